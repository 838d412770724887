"""Stream rows out of an uploaded file, in one pass and in flat memory.

The layout is told from the content, not only the extension: a file whose first non-blank character is
``[`` is a top-level JSON array (parsed incrementally with ``json.JSONDecoder.raw_decode`` over buffered
chunks), one that starts with ``{`` is JSON lines. ``.txt`` files are plain-text documents, cut by the
rule of :mod:`.textdocs` (by paragraph, by line or the whole file).

``Source.records()`` yields ``(line, item, value)``: the 1-based line where the row starts, its 0-based
index in a top-level array (``None`` otherwise) and the decoded value, or an :class:`InvalidJSON` for a
JSON-lines line that does not parse (a row error; only the first line not parsing refuses the file).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections.abc import Callable, Iterator

from .errors import (
    EMPTY_FILE,
    LINE_TOO_LONG,
    NOT_GZIP,
    NOT_JSON,
    NOT_UTF8,
    TOO_LARGE,
    WRONG_TOP_LEVEL,
    FileError,
)
from .guard import GZIP_MAGIC, Guarded, refuse_not_text
from .jsonarray import (
    BOM,
    TOO_MANY_DIGITS,
    WS,
    Record,
    array_items,
    json_problem,
    raw_decode,
    single_value,
)
from .textdocs import SNIFF_TEXT_BYTES, choose_rule, documents

SNIFF_BYTES = 4096
_WS_BYTES = re.compile(rb"[ \t\n\r]*")


class InvalidJSON:
    """Stands in for a JSON-lines row that does not parse; the normaliser turns it into a row error."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


def json_type(value: object) -> str:
    """The JSON name of a Python value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class Source:
    """An open upload. Use it as a context manager and iterate :meth:`records` once."""

    def __init__(
        self,
        path: str | os.PathLike,
        ext: str,
        *,
        max_file_bytes: int,
        max_line_bytes: int,
        max_unpacked_bytes: int | None = None,
        max_ratio: float | None = None,
        work_budget_bytes: int | None = None,
        cancelled: Callable[[], bool] | None = None,
        text_split: str = "auto",
    ):
        self.ext = ext
        self.text_rule = text_split  # for .txt: the rule used, once records() has started
        self.total_bytes = os.path.getsize(path)
        self.max_file_bytes = max_file_bytes
        self.max_line_bytes = max_line_bytes
        if self.total_bytes == 0:
            raise FileError(EMPTY_FILE, "the file is empty")
        if self.total_bytes > max_file_bytes:
            raise FileError(TOO_LARGE, f"the file is larger than the limit of {max_file_bytes} bytes")
        self._gzip = ext.endswith(".gz")
        # What the parsers may read: the file itself, or for gzip what it unpacks to.
        self.max_text_bytes = (max_unpacked_bytes or max_file_bytes) if self._gzip else max_file_bytes
        self._limits = {
            "max_bytes": self.max_text_bytes if self._gzip else None,
            "max_ratio": max_ratio if self._gzip else None,
            "budget": work_budget_bytes,
            "cancelled": cancelled,
        }
        self._raw = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._stream = None
        try:
            self._open_stream()
        except FileError:
            self._raw.close()
            raise

    def _open_stream(self) -> None:
        """(Re)open the readable stream from the start; every byte read through it is counted and checked
        (see :class:`Guarded`) before any line is split, so a bomb is refused after one chunk."""
        if self._stream is not None:
            self._stream.close()
        self._raw.seek(0)
        inner = self._raw
        if self._gzip:
            if self._raw.read(2) != GZIP_MAGIC:
                raise FileError(NOT_GZIP, f"the file is named {self.ext} but is not gzip-compressed")
            self._raw.seek(0)
            inner = gzip.GzipFile(fileobj=self._raw, mode="rb")
        self._stream = Guarded.open(inner, self._raw, **self._limits)

    def position(self) -> int:
        """Bytes of the file on disk consumed so far (compressed bytes for gzip), for progress."""
        return self._raw.tell() if self._gzip else self._stream.tell()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._raw.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def records(self) -> Iterator[Record]:
        try:
            yield from self._records()
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise FileError(NOT_GZIP, f"the gzip stream is damaged: {exc}") from exc

    def _records(self) -> Iterator[Record]:
        head = self._stream.read(SNIFF_BYTES)
        self._open_stream()
        if head.startswith(GZIP_MAGIC):
            if self._gzip:
                raise FileError(NOT_GZIP, "the file is compressed twice (gzip inside gzip); unpack it once")
            raise FileError(
                NOT_UTF8, "line 1: the file is gzip-compressed; name it .jsonl.gz or .json.gz", line=1
            )
        body = head[3:] if head.startswith(BOM) else head
        start = _WS_BYTES.match(body).end()
        first = body[start : start + 1]
        refuse_not_text(head, json_array=first == b"[" and self.ext != ".txt")
        if self.ext == ".txt":
            yield from self._text_records()
            return
        if first == b"[":
            yield from array_items(
                self._stream, max_file_bytes=self.max_text_bytes, max_line_bytes=self.max_line_bytes
            )
        elif first in (b"{", b""):
            yield from self._jsonl_records()
        else:
            self._refuse_scalar(body.decode("utf-8", "replace"), body[:start].count(b"\n") + 1)

    # -- JSON lines and text -------------------------------------------------------------------------

    def _lines(self) -> Iterator[tuple[int, str]]:
        """Decoded lines with their 1-based numbers; enforces the line and (uncompressed) size limits."""
        readline = self._stream.readline
        limit = self.max_line_bytes
        max_bytes = self.max_text_bytes
        line_no = 0
        offset = 0
        while raw := readline(limit + 1):
            line_no += 1
            size = len(raw)
            if size > limit and raw[-1:] != b"\n":
                raise FileError(
                    LINE_TOO_LONG, f"line {line_no} is longer than the limit of {limit} bytes", line=line_no
                )
            skipped = 0
            if line_no == 1 and raw.startswith(BOM):
                raw, skipped = raw[3:], 3
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                at = offset + skipped + exc.start
                raise FileError(
                    NOT_UTF8, f"line {line_no}: not valid UTF-8 (byte offset {at})", line=line_no
                ) from None
            offset += size
            if offset > max_bytes:
                raise FileError(TOO_LARGE, f"the file is larger than the limit of {max_bytes} bytes")
            yield line_no, text

    def _jsonl_records(self) -> Iterator[Record]:
        loads = json.loads
        first = True
        for line_no, text in self._lines():
            if not text or text.isspace():
                continue
            try:
                value = loads(text)
            except (ValueError, RecursionError):
                message = _line_error(text)
                if first:
                    self._refuse_first_line(line_no, message)
                value = InvalidJSON(f"not valid JSON: {message}")
            first = False
            yield line_no, None, value

    def _text_records(self) -> Iterator[Record]:
        if self.text_rule == "auto":
            self.text_rule = choose_rule(self._stream.read(SNIFF_TEXT_BYTES))
            self._open_stream()
        yield from documents(self._lines(), self.text_rule, self.max_line_bytes)

    # -- refusing files that are not rows ------------------------------------------------------------

    def _refuse_first_line(self, line_no: int, message: str) -> None:
        """The first line is not JSON: say whether the file is one multi-line object or not JSON at all."""
        value = self._probe_single_value()
        if isinstance(value, dict):
            keys = ", ".join(list(value)[:10])
            raise FileError(
                WRONG_TOP_LEVEL,
                "expected a JSON array of rows or one JSON object per line, found a single JSON object "
                f"(keys: {keys})",
                line=1,
            )
        raise FileError(NOT_JSON, f"line {line_no}: not valid JSON: {message}", line=line_no)

    def _probe_single_value(self) -> object:
        self._open_stream()
        return single_value(
            self._stream, max_file_bytes=self.max_text_bytes, max_line_bytes=self.max_line_bytes
        )

    def _refuse_scalar(self, head: str, line: int) -> None:
        try:
            value, _ = raw_decode(head, WS.match(head).end())
        except (ValueError, RecursionError) as exc:
            raise FileError(
                NOT_JSON, f"line {line}: not valid JSON: {_json_message(exc)}", line=line
            ) from None
        raise FileError(
            WRONG_TOP_LEVEL,
            f"expected a JSON array of rows or one JSON object per line, found {json_type(value)}",
            line=line,
        )


def _line_error(text: str) -> str:
    """Why one line is not JSON (parsed again without its line break, so the column is on this line)."""
    try:
        json.loads(text.rstrip("\r\n"))
    except (ValueError, RecursionError) as exc:
        return _json_message(exc)
    return "not valid JSON"


def _json_message(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return json_problem(exc.msg, exc.colno)
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return TOO_MANY_DIGITS  # the one other ValueError json raises: an integer Python will not convert
