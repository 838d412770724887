"""Plain-text uploads (``.txt``) cut into documents, by a rule the user can see and choose.

- ``paragraph``: documents are separated by blank lines (a single line break stays inside one);
- ``line``: every non-blank line is a document;
- ``file``: the whole file is one document;
- ``auto``: ``paragraph`` when the start of the file has a blank line, else ``line`` when its lines are
  long (paragraph-sized: one document per line, as text corpora are often stored), else ``file``
  (short lines without blank lines: a poem, a list, one text broken for reading).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .errors import LINE_TOO_LONG, FileError

TEXT_SPLITS = ("auto", "paragraph", "line", "file")
RULES = {
    "paragraph": "one document per paragraph (separated by blank lines)",
    "line": "one document per line",
    "file": "the whole file is one document",
}
SNIFF_TEXT_BYTES = 64 * 1024
LONG_LINE_CHARS = 200  # a mean line this long reads as one paragraph per line
_BLANK_LINE = re.compile(rb"\n[ \t\r]*\n")


def choose_rule(head: bytes) -> str:
    """The rule ``auto`` picks from the first bytes of the (uncompressed) file."""
    body = head.lstrip(b"\xef\xbb\xbf\r\n\t ")
    if _BLANK_LINE.search(body):
        return "paragraph"
    lines = body.split(b"\n")
    complete = [line for line in lines[:-1] if line.strip()] or [body]
    # Bytes are a fair stand-in for characters here: CJK text is three bytes a character but also
    # denser, so a 200-byte mean is still a sentence or more.
    mean = sum(len(line) for line in complete) / len(complete)
    return "line" if mean >= LONG_LINE_CHARS or len(lines) == 1 else "file"


def documents(
    lines: Iterator[tuple[int, str]], rule: str, max_bytes: int
) -> Iterator[tuple[int, None, dict]]:
    """``(line, None, {"text": ...})`` for each document of the decoded ``(line number, text)`` stream."""
    chunk: list[str] = []
    start = size = 0
    for line_no, text in lines:
        blank = not text or text.isspace()
        if rule == "line":
            if not blank:
                yield line_no, None, {"text": _document([text])}
            continue
        if blank and rule == "paragraph":
            if chunk:
                yield start, None, {"text": _document(chunk)}
                chunk, size = [], 0
            continue
        if not chunk:
            if blank:
                continue
            start = line_no
        chunk.append(text)
        size += len(text)
        if size > max_bytes:
            what = "the file" if rule == "file" else f"the document starting at line {start}"
            raise FileError(
                LINE_TOO_LONG,
                f"{what} is longer than the limit of {max_bytes} bytes for one document; "
                "choose one document per line or per paragraph",
                line=start,
            )
    if chunk:
        yield start, None, {"text": _document(chunk)}


def _document(lines: list[str]) -> str:
    text = "".join(lines).replace("\r\n", "\n")
    return text.rstrip("\n") if text.endswith("\n") else text
