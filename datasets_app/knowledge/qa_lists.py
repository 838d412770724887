"""Imported question-answer lists (CSV, XLSX, JSON, JSON lines): every answer kept, nothing dropped silently.

Columns (or keys) are recognised by name: a question column (``question``, ``q``, ``问题``...), any number
of answer columns (``answer``, ``answer2``, ``答案``... or one ``answers`` list), and optionally an
``enabled``/``disabled``/``status`` column. Rows with the same question are merged, keeping all their
answers. A disabled entry, or one without a question or without any answer, is skipped and counted.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from openpyxl import load_workbook

from ..ingest.errors import FileError
from .documents import UNPARSABLE, ParsedDocument, check_zip, decode_text

QUESTION_KEYS = ("question", "questions", "q", "query", "prompt", "instruction", "问题", "问", "标准问题")
ANSWER_PREFIXES = ("answer", "a", "response", "output", "reply", "答案", "回答", "答")
FALSE_WORDS = {"false", "0", "no", "n", "off", "disabled", "inactive", "否", "停用", "禁用"}
TRUE_WORDS = {"true", "1", "yes", "y", "on", "enabled", "active", "是", "启用"}
NO_QUESTION_COLUMN = "no_question_column"


def _key(name) -> str:
    return str(name or "").strip().lower().replace(" ", "_")


def _is_answer_key(key: str) -> bool:
    return key in ("answers", "similar_answers") or any(
        key == prefix or (key.startswith(prefix) and key[len(prefix) :].strip("_ ").isdigit())
        for prefix in ANSWER_PREFIXES
    )


def _enabled(record: dict) -> bool:
    for name, value in record.items():
        key = _key(name)
        word = str(value).strip().lower() if value is not None else ""
        if key in ("enabled", "enable", "active", "启用") and word in FALSE_WORDS:
            return False
        if key in ("disabled", "disable", "停用") and word in TRUE_WORDS:
            return False
        if key == "status" and word in ("disabled", "inactive", "停用", "禁用"):
            return False
    return True


def _answers(record: dict) -> list[str]:
    answers: list[str] = []
    for name, value in record.items():
        if not _is_answer_key(_key(name)):
            continue
        values = value if isinstance(value, list) else [value]
        for item in values:
            text = str(item).strip() if item is not None else ""
            if text and text not in answers:
                answers.append(text)
    return answers


def collect(records, *, source: str) -> ParsedDocument:
    """``records`` yields ``(line, dict)``; returns the merged entries and the skip counts."""
    entries: dict[str, dict] = {}
    skipped = {"disabled": 0, "no_question": 0, "no_answer": 0}
    saw_question_key = False
    for line, record in records:
        question_key = next((k for k in record if _key(k) in QUESTION_KEYS), None)
        saw_question_key = saw_question_key or question_key is not None
        question = str(record.get(question_key) or "").strip() if question_key else ""
        if not _enabled(record):
            skipped["disabled"] += 1
        elif not question:
            skipped["no_question"] += 1
        elif not (answers := _answers(record)):
            skipped["no_answer"] += 1
        elif question in entries:
            entries[question]["answers"] += [a for a in answers if a not in entries[question]["answers"]]
        else:
            entries[question] = {"question": question, "answers": answers, "line": line}
    if not saw_question_key:
        raise FileError(
            NO_QUESTION_COLUMN,
            f"the {source} has no question column: name one question (or 问题) and the others answer, "
            "answer2, ... (or 答案)",
            line=1,
        )
    return ParsedDocument(
        "qa_list", entries=list(entries.values()), skipped={k: v for k, v in skipped.items() if v}
    )


def _rows_to_records(rows) -> list[tuple[int, dict]]:
    rows = iter(rows)
    header = next(rows, None)
    if header is None:
        return []
    names = [str(h).strip() if h is not None else "" for h in header]
    records = []
    for number, row in enumerate(rows, start=2):
        values = list(row)
        if all(v is None or str(v).strip() == "" for v in values):
            continue
        records.append((number, {n: v for n, v in zip(names, values, strict=False) if n}))
    return records


def parse_csv(raw: bytes) -> ParsedDocument:
    text = decode_text(raw)
    header = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=header.count)  # the header names the columns: its separator is the file's
    try:
        return collect(
            _rows_to_records(csv.reader(io.StringIO(text), delimiter=delimiter)), source="CSV file"
        )
    except csv.Error as exc:
        raise FileError(UNPARSABLE, f"the CSV cannot be read ({exc})") from None


def parse_xlsx(path: Path) -> ParsedDocument:
    check_zip(path)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds; each is an unreadable file
        raise FileError(UNPARSABLE, f"the XLSX cannot be read ({type(exc).__name__}: {exc})") from None
    try:
        return collect(_rows_to_records(workbook.worksheets[0].iter_rows(values_only=True)), source="sheet")
    finally:
        workbook.close()


def parse_json(raw: bytes, *, lines: bool) -> ParsedDocument:
    text = decode_text(raw)
    records = []
    if lines:
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                records.append((number, _json_object(line, number)))
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise FileError(
                "not_json", f"line {exc.lineno}: not valid JSON: {exc.msg}", line=exc.lineno
            ) from None
        if isinstance(data, dict):
            data = next((v for v in data.values() if isinstance(v, list)), None)
        if not isinstance(data, list):
            raise FileError("wrong_top_level", "expected a JSON array of objects (or an object holding one)")
        for index, item in enumerate(data, start=1):
            if not isinstance(item, dict):
                raise FileError("invalid_row", f"entry {index} is not an object", line=index)
            records.append((index, item))
    return collect(records, source="JSON file")


def _json_object(line: str, number: int) -> dict:
    try:
        value = json.loads(line)
    except ValueError as exc:
        raise FileError("not_json", f"line {number}: not valid JSON: {exc.msg}", line=number) from None
    if not isinstance(value, dict):
        raise FileError("invalid_row", f"line {number}: expected a JSON object", line=number)
    return value


def parse_qa_list(path: Path, file_format: str) -> ParsedDocument:
    if file_format == ".xlsx":
        return parse_xlsx(path)
    raw = path.read_bytes()
    if file_format == ".csv":
        return parse_csv(raw)
    return parse_json(raw, lines=file_format == ".jsonl")
