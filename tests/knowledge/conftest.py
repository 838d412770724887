"""Small document files for knowledge-base tests, written by the tests themselves with real writers
(fpdf2 for PDF, python-docx for DOCX, openpyxl for XLSX)."""

from __future__ import annotations

import io

import django_rq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rq import SimpleWorker

CHINESE_FAQ = """# 常见问题

## 退货

问：怎么退货？
答：在订单页面点击"申请退货"，七天内有效。

问题：退货运费谁承担？
回答：质量问题由我们承担。
其他情况由买家承担。

## 账户

问：忘记密码怎么办？
答：点击登录页的"忘记密码"，按邮件提示重置。
"""
CHINESE_FAQ_PAIRS = [
    ("怎么退货？", '在订单页面点击"申请退货"，七天内有效。', ["常见问题", "退货"]),
    ("退货运费谁承担？", "质量问题由我们承担。\n其他情况由买家承担。", ["常见问题", "退货"]),
    ("忘记密码怎么办？", '点击登录页的"忘记密码"，按邮件提示重置。', ["常见问题", "账户"]),
]
HTML_PAGE = b"""<!doctype html><html><head><title>Help</title><style>p{color:red}</style></head><body>
<h1>Help centre</h1><h2>How do I reset my router?</h2><p>Hold the reset button for ten seconds.</p>
<script>alert("not text")</script>
<table><tr><th>Question</th><th>Answer</th></tr><tr><td>Is there a warranty?</td><td>Two years.</td></tr></table>
</body></html>"""


def pdf_bytes(pages: list[str], *, password: str | None = None, blank: bool = False) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if blank:
            pdf.rect(20, 20, 100, 60, style="F")  # a "scan": marks, but no text layer
        else:
            pdf.multi_cell(0, 8, text)
    if password:
        pdf.set_encryption(owner_password="owner-" + password, user_password=password)
    return bytes(pdf.output())


def docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Warranty", level=1)
    document.add_paragraph("Every device has a warranty.")
    table = document.add_table(rows=3, cols=2)
    for row, (question, answer) in zip(
        table.rows,
        [
            ("Question", "Answer"),
            ("How long is the warranty?", "Two years."),
            ("Is water damage covered?", "No."),
        ],
        strict=True,
    ):
        row.cells[0].text, row.cells[1].text = question, answer
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx_bytes(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


QA_ROWS = [
    ["question", "answer", "answer2", "enabled"],
    ["What are your hours?", "9 to 5.", "Nine to five on weekdays.", "true"],
    ["Do you ship abroad?", "Yes.", "", "yes"],
    ["Old question", "Old answer", "", "false"],
    ["", "An answer without a question", "", "true"],
    ["No answer here?", "", "", "true"],
]


def upload_document(client, kb_id: int, content: bytes, filename: str):
    return client.post(
        f"/api/knowledge-bases/{kb_id}/documents/",
        {"file": SimpleUploadedFile(filename, content)},
        format="multipart",
    )


@pytest.fixture
def queue():
    queue = django_rq.get_queue("default")
    queue.empty()  # leftovers of earlier runs are not ours to run
    return queue


def work(queue) -> None:
    """Run what is queued with a real RQ worker on the real Redis, until the queue is empty."""
    SimpleWorker([queue], connection=django_rq.get_connection("default")).work(burst=True)


def extract_now(kb, mode: str = "structured", **options):
    """Run one extraction in this process (the runner's own entry point, as the RQ worker calls it)."""
    from datasets_app.knowledge import services
    from datasets_app.knowledge.extraction import ExtractionRunner

    run = services.start_extraction(kb, None, mode=mode, options=options)
    ExtractionRunner.handle(run.pk)
    run.refresh_from_db()
    return run
