"""File layouts (.json array, .jsonl, gzip, BOM) and every whole-file refusal, with its message."""

import gzip
import json

import pytest

from datasets_app.ingest import FileError, IngestOptions, ingest, jsonarray, safe_filename

ROWS = [{"instruction": f"问题 {i}: what is {i} + {i}?", "output": f"答案是 {2 * i}"} for i in range(40)]


def refused(run, content, name="data.jsonl", **kwargs):
    with pytest.raises(FileError) as caught:
        run(content, name=name, **kwargs)
    return caught.value


def array_text(rows):
    return "[\n" + ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n]\n"


@pytest.mark.parametrize("name", ["data.json", "data.jsonl", "DATA.JSON"])
def test_a_top_level_array_is_read_whatever_the_extension(run, name):
    result, rows = run(array_text(ROWS), name=name)
    assert result.rows_out == 40
    assert rows[7]["messages"][1]["content"] == "答案是 14"


def test_json_lines_in_a_json_file(run):
    result, _ = run(ROWS, name="export.json")
    assert result.rows_out == 40


@pytest.mark.parametrize("name", ["data.jsonl.gz", "data.json.gz"])
def test_gzip(run, name):
    result, rows = run(gzip.compress(array_text(ROWS).encode()), name=name)
    assert result.rows_out == 40


def test_utf8_bom_is_accepted(run):
    result, _ = run(b"\xef\xbb\xbf" + json.dumps(ROWS[0]).encode() + b"\n")
    assert result.rows_out == 1
    result, _ = run(b"\xef\xbb\xbf" + array_text(ROWS).encode(), name="data.json")
    assert result.rows_out == 40


def test_array_parsed_across_tiny_chunks_matches(run, monkeypatch):
    """Chunk boundaries fall inside strings, escapes, numbers and multi-byte characters."""
    rows = [{"text": f'文档 {i} \\u00e9 \u00e9 😀 "quoted"', "n": 1234567 + i} for i in range(30)]
    content = "\ufeff" + array_text(rows)
    _, expected = run(content, name="a.json")
    for size in (1, 2, 3, 5, 7, 64):
        monkeypatch.setattr(jsonarray, "CHUNK_BYTES", size)
        result, got = run(content, name="a.json")
        assert got == expected and result.rows_in == 30


def test_array_row_errors_carry_the_item_index_and_line(run):
    rows = [{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}] * 20
    bad = {
        "conversations": [
            {"from": "human", "value": "q"},
            {"from": "gpt", "value": "a"},
            {"from": "bot", "value": "?"},
        ]
    }
    result, _ = run(array_text([*rows[:17], bad, *rows[17:]]), name="data.json")
    assert [str(e) for e in result.errors] == [
        'item 17 (line 19): "conversations"[2].from must be one of human, gpt, system, function_call, '
        'observation, got "bot"'
    ]
    error = result.errors[0]
    assert (error.item, error.line, error.field, error.kind) == (
        17,
        19,
        '"conversations"[2].from',
        "invalid_value",
    )


@pytest.mark.parametrize(
    ("content", "code", "message", "line"),
    [
        (
            '[{"text": "a"},\n{"text": "b"}\n{"text": "c"}]',
            "not_json",
            "item 2 (line 3): not valid JSON: expecting ',' between items",
            3,
        ),
        (
            '[{"text": "a"},\n{"text" "b"}]',
            "not_json",
            "item 1 (line 2): not valid JSON: Expecting ':' delimiter (column 9)",
            2,
        ),
        (
            '[{"text": "a"},\n{"text": "b"},\n]',
            "not_json",
            "item 2 (line 3): not valid JSON: Expecting value (column 1)",
            3,
        ),
        ('[{"text": "a"},\n{"text": "b"}', "not_json", "line 2: the JSON array is not closed (no ])", 2),
        (
            '[{"text": "a"}]\n{"text": "b"}',
            "not_json",
            "line 2: not valid JSON: extra data after the closing ]",
            2,
        ),
        (
            '{\n  "data": [{"text": "a"}],\n  "version": 2\n}\n',
            "wrong_top_level",
            "expected a JSON array of rows or one JSON object per line, found a single JSON object (keys: data, version)",
            1,
        ),
        (
            '"just a string"',
            "wrong_top_level",
            "expected a JSON array of rows or one JSON object per line, found a string",
            1,
        ),
        (
            "\n\n42\n",
            "wrong_top_level",
            "expected a JSON array of rows or one JSON object per line, found a number",
            3,
        ),
        ("hello, world\n", "not_json", "line 1: not valid JSON: Expecting value (column 1)", 1),
        ('\n\n{"text": "a"\n', "not_json", "line 3: not valid JSON: Expecting ',' delimiter (column 13)", 3),
        # A file cut inside a string: the message ends in where the string starts, not in "at".
        ('{"text": "cut', "not_json", "line 1: not valid JSON: Unterminated string starting at column 10", 1),
        (
            '[{"text": "a"},\n{"text": "cut',
            "not_json",
            "item 1 (line 2): not valid JSON: Unterminated string starting at column 10",
            2,
        ),
        ("[]", "empty_file", "the file has no rows", None),
        ("\n  \n\n", "empty_file", "the file has no rows", None),
        ("", "empty_file", "the file is empty", None),
    ],
)
def test_files_that_are_not_rows(run, content, code, message, line):
    error = refused(run, content, name="data.json")
    assert (error.code, error.message, error.line) == (code, message, line)


def test_not_utf8_says_line_and_byte_offset(run):
    content = json.dumps(ROWS[0]).encode() + b"\n" + b'{"instruction": "caf\xe9", "output": "x"}\n'
    error = refused(run, content)
    offset = content.index(b"\xe9")
    assert (error.code, error.line) == ("not_utf8", 2)
    assert error.message == f"line 2: not valid UTF-8 (byte offset {offset})"


def test_not_utf8_in_a_json_array(run, monkeypatch):
    monkeypatch.setattr(jsonarray, "CHUNK_BYTES", 16)
    content = array_text(ROWS[:3]).encode().replace("问题 2".encode(), b"\xff\xfe 2")
    error = refused(run, content, name="data.json")
    offset = content.index(b"\xff")
    assert (error.code, error.line) == ("not_utf8", 4)
    assert error.message == f"line 4: not valid UTF-8 (byte offset {offset})"


def test_utf16_and_misnamed_gzip_get_a_hint(run):
    assert "UTF-16" in refused(run, json.dumps(ROWS[0]).encode("utf-16")).message
    error = refused(run, gzip.compress(b'{"text": "a"}\n'))
    assert (error.code, error.message) == (
        "not_utf8",
        "line 1: the file is gzip-compressed; name it .jsonl.gz or .json.gz",
    )


def test_damaged_or_fake_gzip(run):
    error = refused(run, b'{"text": "a"}\n', name="data.jsonl.gz")
    assert (error.code, error.message) == (
        "not_gzip",
        "the file is named .jsonl.gz but is not gzip-compressed",
    )
    truncated = gzip.compress(json.dumps(ROWS).encode() * 50)[:-30]
    assert refused(run, truncated, name="data.json.gz").code == "not_gzip"


def test_a_line_over_the_limit(run):
    content = json.dumps(ROWS[0]) + "\n" + json.dumps({"text": "x" * 200}) + "\n"
    error = refused(run, content, options=IngestOptions(max_line_bytes=100))
    assert (error.code, error.message, error.line) == (
        "line_too_long",
        "line 2 is longer than the limit of 100 bytes",
        2,
    )


def test_an_array_item_over_the_limit(run):
    content = array_text([{"text": "short"}, {"text": "长" * 60}])
    error = refused(run, content, name="data.json", options=IngestOptions(max_line_bytes=100))
    assert (error.code, error.message) == (
        "line_too_long",
        "item 1 (line 3) is longer than the limit of 100 bytes",
    )


def test_a_file_over_the_size_limit(run):
    error = refused(run, ROWS, options=IngestOptions(max_file_bytes=500))
    assert (error.code, error.message) == ("too_large", "the file is larger than the limit of 500 bytes")
    # Gzip is measured uncompressed too: a small bomb does not get through.
    bomb = gzip.compress(("\n" * 100_000 + json.dumps(ROWS[0])).encode())
    assert len(bomb) < 5000
    assert (
        refused(run, bomb, name="d.jsonl.gz", options=IngestOptions(max_file_bytes=5000)).code == "too_large"
    )


@pytest.mark.parametrize(
    "name",
    [
        "../data.jsonl",
        "/etc/passwd.json",
        "a\\b.jsonl",
        "a\x00b.jsonl",
        "a\nb.jsonl",
        "..",
        "",
        " x.json",
        "\u202ex.json",
    ],
)
def test_path_tricks_in_the_filename_are_refused(name):
    with pytest.raises(FileError) as caught:
        safe_filename(name)
    assert caught.value.code == "bad_filename"


def test_plain_filenames_pass():
    assert safe_filename("HuatuoGPT sft (v1).jsonl") == "HuatuoGPT sft (v1).jsonl"
    assert safe_filename("数据集.json") == "数据集.json"


@pytest.mark.parametrize("name", ["data.csv", "data.jsonl.zip", ".jsonl", "data"])
def test_unsupported_extensions(tmp_path, name):
    src = tmp_path / "upload"
    src.write_text(json.dumps(ROWS[0]))
    with pytest.raises(FileError) as caught:
        ingest(src, tmp_path / "out.jsonl", filename=name)
    assert caught.value.code == "unsupported_extension"
    assert caught.value.message == (
        f'unsupported file type "{name}": expected .jsonl.gz, .json.gz, .jsonl, .json or .txt'
    )


def test_bad_filename_through_ingest(tmp_path):
    src = tmp_path / "upload"
    src.write_text(json.dumps(ROWS[0]))
    with pytest.raises(FileError) as caught:
        ingest(src, tmp_path / "out.jsonl", filename="../../etc/cron.d/x.jsonl")
    assert caught.value.code == "bad_filename"
    assert (
        caught.value.message == 'file name "../../etc/cron.d/x.jsonl" must not contain a path ("/" or "\\")'
    )


def test_a_gzip_that_unpacks_past_the_limit_is_refused_with_the_limit(run):
    content = "".join(json.dumps({"text": f"document {i} " * 20}) + "\n" for i in range(40_000)).encode()
    options = IngestOptions(max_unpacked_bytes=2 << 20, max_compression_ratio=None)
    error = refused(run, gzip.compress(content), name="d.jsonl.gz", options=options)
    assert (error.code, error.message) == (
        "too_large",
        "the file unpacks to more than 2 MB, the limit for the unpacked data of a compressed upload",
    )


def test_the_ingest_stops_when_it_is_cancelled(run):
    asked = []

    def cancelled() -> bool:
        asked.append(True)
        return len(asked) > 2

    content = "".join(json.dumps({"text": f"document {i} " * 20}) + "\n" for i in range(20_000)).encode()
    error = refused(run, content, options=IngestOptions(cancelled=cancelled))
    assert (error.code, error.message) == ("cancelled", "the upload was cancelled: the client went away")
