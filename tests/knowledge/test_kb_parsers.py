"""Each document parser on a small file the test writes; unreadable files refused with a clear reason."""

from pathlib import Path

import pytest

from datasets_app.ingest import FileError
from datasets_app.knowledge.chunking import chunk_document, sentences
from datasets_app.knowledge.documents import document_format, parse_document
from datasets_app.knowledge.qa_lists import parse_qa_list
from datasets_app.knowledge.structured import structured_pairs
from tests.knowledge.conftest import (
    CHINESE_FAQ,
    CHINESE_FAQ_PAIRS,
    HTML_PAGE,
    QA_ROWS,
    docx_bytes,
    pdf_bytes,
    xlsx_bytes,
)


def parse(tmp_path: Path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    file_format = document_format(name)
    if file_format in (".csv", ".xlsx", ".json", ".jsonl"):
        return parse_qa_list(path, file_format)
    return parse_document(path, file_format)


def test_a_two_page_pdf_keeps_its_pages(tmp_path):
    doc = parse(
        tmp_path, "manual.pdf", pdf_bytes(["Page one talks about setup.", "Page two covers cleaning."])
    )
    assert [s["page"] for s in doc.sections] == [1, 2]
    first, second = (doc.text[s["start"] : s["end"]] for s in doc.sections)
    assert first == "Page one talks about setup." and second == "Page two covers cleaning."


@pytest.mark.parametrize(
    ("kwargs", "code", "words"),
    [({"password": "s3cret"}, "encrypted", "password"), ({"blank": True}, "no_text_layer", "OCR")],
)
def test_encrypted_and_scanned_pdfs_are_refused_clearly(tmp_path, kwargs, code, words):
    with pytest.raises(FileError) as refused:
        parse(tmp_path, "scan.pdf", pdf_bytes(["Secret text.", "More."], **kwargs))
    assert refused.value.code == code and words in refused.value.message


def test_a_docx_with_a_table_gives_headings_paragraphs_and_rows(tmp_path):
    doc = parse(tmp_path, "warranty.docx", docx_bytes())
    roles = [(s["role"], doc.text[s["start"] : s["end"]]) for s in doc.sections]
    assert roles[:2] == [("heading", "Warranty"), ("paragraph", "Every device has a warranty.")]
    assert [s["cells"] for s in doc.sections if s["role"] == "row"][1] == [
        "How long is the warranty?",
        "Two years.",
    ]
    pairs = structured_pairs(doc.text, doc.sections)
    assert [(p["question"], p["answers"]) for p in pairs] == [
        ("Warranty", ["Every device has a warranty."]),
        ("How long is the warranty?", ["Two years."]),
        ("Is water damage covered?", ["No."]),
    ]
    assert all(p["headings"] == ["Warranty"] for p in pairs[1:])


def test_an_html_page_drops_scripts_and_keeps_faq_headings_and_tables(tmp_path):
    doc = parse(tmp_path, "help.html", HTML_PAGE)
    assert "alert" not in doc.text and "color" not in doc.text
    pairs = structured_pairs(doc.text, doc.sections)
    assert [(p["question"], p["answers"][0], p["headings"]) for p in pairs] == [
        ("How do I reset my router?", "Hold the reset button for ten seconds.", ["Help centre"]),
        ("Is there a warranty?", "Two years.", ["Help centre", "How do I reset my router?"]),
    ]


def test_csv_and_xlsx_qa_lists_keep_every_answer_and_count_what_they_skip(tmp_path):
    csv_text = "\n".join(",".join(row) for row in QA_ROWS).encode("gbk")  # not UTF-8: detected
    for name, content in (("faq.csv", csv_text), ("faq.xlsx", xlsx_bytes(QA_ROWS))):
        doc = parse(tmp_path, name, content)
        assert doc.entries == [
            {
                "question": "What are your hours?",
                "answers": ["9 to 5.", "Nine to five on weekdays."],
                "line": 2,
            },
            {"question": "Do you ship abroad?", "answers": ["Yes."], "line": 3},
        ], name
        assert doc.skipped == {"disabled": 1, "no_question": 1, "no_answer": 1}


def test_json_lists_merge_answers_of_the_same_question(tmp_path):
    lines = b'{"question": "Q1", "answers": ["A", "B"]}\n{"question": "Q1", "answer": "C"}\n'
    assert parse(tmp_path, "qa.jsonl", lines).entries == [
        {"question": "Q1", "answers": ["A", "B", "C"], "line": 1}
    ]
    with pytest.raises(FileError) as refused:
        parse(tmp_path, "qa.jsonl", b'{"question": "Q1", "answer": "A"}\n{oops\n')
    assert refused.value.line == 2


def test_chinese_faq_in_markdown_gives_exactly_its_pairs_with_provenance(tmp_path):
    doc = parse(tmp_path, "faq.md", CHINESE_FAQ.encode())
    pairs = structured_pairs(doc.text, doc.sections)
    assert [(p["question"], p["answers"][0], p["headings"]) for p in pairs] == CHINESE_FAQ_PAIRS
    assert doc.text[pairs[0]["start"] : pairs[0]["end"]].startswith("问：怎么退货？")


def test_chunks_follow_headings_and_cut_chinese_and_english_sentences_with_overlap(tmp_path):
    assert [(a, b) for a, b in sentences("第一句。第二句！Third one. Fourth?", 0)] == [
        (0, 4),
        (4, 8),
        (8, 18),
        (19, 26),
    ]
    doc = parse(tmp_path, "faq.md", CHINESE_FAQ.encode())
    chunks = chunk_document(doc.text, doc.sections, target=20, overlap=8)
    assert {tuple(c.headings) for c in chunks} == {("常见问题", "退货"), ("常见问题", "账户")}
    for chunk in chunks:
        assert chunk.text == doc.text[chunk.start : chunk.end] and chunk.tokens <= 40
    same_section = [(a, b) for a, b in zip(chunks, chunks[1:], strict=False) if a.headings == b.headings]
    assert any(b.start < a.end for a, b in same_section), "consecutive chunks overlap"


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("notes.txt", b"\x00\x01\x02\xff" * 100, "no_text"),
        ("broken.pdf", b"%PDF-1.4 nonsense", "unparsable"),
        ("broken.docx", b"PK\x03\x04 not really", "unparsable"),
        ("image.png", b"\x89PNG", "unsupported_extension"),
        ("faq.csv", b"title,body\nx,y\n", "no_question_column"),
    ],
)
def test_bad_documents_are_refused_with_a_reason(tmp_path, name, content, code):
    with pytest.raises(FileError) as refused:
        parse(tmp_path, name, content)
    assert refused.value.code == code
