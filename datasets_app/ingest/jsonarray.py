"""Incremental parser of a top-level JSON array, in flat memory.

The stream is read in chunks, decoded as UTF-8 (a sequence cut by a chunk boundary waits for the next
chunk) and each item is parsed with ``json.JSONDecoder.raw_decode`` where it lies in the buffer. Text
before the current item is dropped whenever more is read, so memory holds about one chunk plus the
largest item. Line numbers are counted as the parse moves on, for error messages.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import BinaryIO

from .errors import LINE_TOO_LONG, NOT_JSON, NOT_UTF8, TOO_LARGE, FileError

BOM = b"\xef\xbb\xbf"
CHUNK_BYTES = 1 << 20
WS = re.compile(r"[ \t\n\r]*")
raw_decode = json.JSONDecoder().raw_decode

Record = tuple[int, int | None, object]
TOO_MANY_DIGITS = f"a number has more than {sys.get_int_max_str_digits()} digits"


def array_items(stream: BinaryIO, *, max_file_bytes: int, max_line_bytes: int) -> Iterator[Record]:
    """``(line, index, value)`` of each item of the array the stream holds (it starts with ``[``)."""
    window = TextWindow(stream, max_file_bytes)
    pos = skip(window, 0) + 1  # past the "["
    index = 0
    while True:
        pos = skip(window, pos)
        buf = window.buf
        if pos >= len(buf):
            line = window.line_at(pos)
            raise FileError(NOT_JSON, f"line {line}: the JSON array is not closed (no ])", line=line)
        if buf[pos] == "]":
            pos = skip(window, pos + 1)
            if pos < len(window.buf):
                line = window.line_at(pos)
                raise FileError(
                    NOT_JSON, f"line {line}: not valid JSON: extra data after the closing ]", line=line
                )
            return
        if index:
            if buf[pos] != ",":
                line = window.line_at(pos)
                message = f"item {index} (line {line}): not valid JSON: expecting ',' between items"
                raise FileError(NOT_JSON, message, line=line)
            pos = skip(window, pos + 1)
        line = window.advance_line(pos)
        value, pos = decode_item(window, pos, index, line, max_line_bytes)
        yield line, index, value
        index += 1


def single_value(stream: BinaryIO, *, max_file_bytes: int, max_line_bytes: int) -> object:
    """The one JSON value the whole stream holds, or ``None`` if it holds anything else."""
    window = TextWindow(stream, max_file_bytes)
    try:
        value, end = decode_item(window, skip(window, 0), 0, 1, max_line_bytes)
    except FileError:
        return None
    return value if skip(window, end) >= len(window.buf) else None


def decode_item(window: TextWindow, pos: int, index: int, line: int, max_bytes: int) -> tuple[object, int]:
    while True:
        buf = window.buf
        try:
            value, end = raw_decode(buf, pos)
            # A value that touches the end of the buffer may be a number cut by the chunk boundary.
            if end < len(buf) or window.eof:
                # A character is 1 to 4 bytes: encode only items that may be over the limit.
                if end - pos > max_bytes // 4 and len(buf[pos:end].encode()) > max_bytes:
                    raise _too_long(index, line, max_bytes)
                return value, end
        except json.JSONDecodeError as exc:
            if window.eof or not _maybe_truncated(exc, len(buf)):
                at = window.line_at(exc.pos)
                problem = json_problem(exc.msg, window.column_at(exc.pos))
                message = f"item {index} (line {at}): not valid JSON: {problem}"
                raise FileError(NOT_JSON, message, line=at) from None
        except RecursionError:
            message = f"item {index} (line {line}): not valid JSON: nested too deeply"
            raise FileError(NOT_JSON, message, line=line) from None
        except ValueError:  # Python refuses to convert an integer of more than 4300 digits
            message = f"item {index} (line {line}): not valid JSON: {TOO_MANY_DIGITS}"
            raise FileError(NOT_JSON, message, line=line) from None
        if len(buf) - pos > max_bytes:
            raise _too_long(index, line, max_bytes)
        pos = window.more(pos)


def _too_long(index: int, line: int, max_bytes: int) -> FileError:
    message = f"item {index} (line {line}) is longer than the limit of {max_bytes} bytes"
    return FileError(LINE_TOO_LONG, message, line=line)


class TextWindow:
    """Decoded text over a byte stream, read in chunks; ``buf`` keeps what is not yet consumed."""

    def __init__(self, stream, max_file_bytes: int):
        self._stream = stream
        self._max_bytes = max_file_bytes
        self._carry = b""
        self._bytes = 0
        self._started = False
        self.buf = ""
        self.eof = False
        self.line = 1  # line number at buf[mark]
        self.column = 1  # column of buf[mark] on its line (the line's start may be read and dropped)
        self.mark = 0

    def line_at(self, pos: int) -> int:
        return self.line + self.buf.count("\n", self.mark, pos)

    def column_at(self, pos: int) -> int:
        newline = self.buf.rfind("\n", self.mark, pos)
        return pos - newline if newline >= 0 else self.column + pos - self.mark

    def advance_line(self, pos: int) -> int:
        self.column = self.column_at(pos)
        self.line = self.line_at(pos)
        self.mark = pos
        return self.line

    def more(self, pos: int) -> int:
        """Read the next chunk, dropping text before ``pos``; returns where ``pos`` now is (0)."""
        self.advance_line(pos)
        # Read at least as much as is held, so one item spanning many chunks costs linear time.
        text = self._read(max(CHUNK_BYTES, len(self.buf) - pos))
        self.buf = self.buf[pos:] + text
        self.mark = 0
        return 0

    def _read(self, size: int) -> str:
        if self.eof:
            return ""
        data = self._stream.read(size)
        if not self._started:
            self._started = True
            while data and len(data) < len(BOM) and (more := self._stream.read(len(BOM) - len(data))):
                data += more
            if data.startswith(BOM):
                data, self._bytes = data[3:] or self._stream.read(size), 3
        if not data:
            self.eof = True
            if self._carry:
                self._bad_utf8(b"", 0)
            return ""
        data = self._carry + data
        cut = _utf8_cut(data)
        data, self._carry = data[:cut], data[cut:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._bad_utf8(data, exc.start)
        self._bytes += len(data)
        if self._bytes > self._max_bytes:
            raise FileError(TOO_LARGE, f"the file is larger than the limit of {self._max_bytes} bytes")
        return text

    def _bad_utf8(self, data: bytes, start: int) -> None:
        line = self.line_at(len(self.buf)) + data.count(b"\n", 0, start)
        offset = self._bytes + start
        raise FileError(NOT_UTF8, f"line {line}: not valid UTF-8 (byte offset {offset})", line=line)


def skip(window: TextWindow, pos: int) -> int:
    """Skip JSON whitespace from ``pos``, reading more as needed; may move the buffer (returns new pos)."""
    while True:
        pos = WS.match(window.buf, pos).end()
        if pos < len(window.buf) or window.eof:
            return pos
        pos = window.more(pos)


def json_problem(message: str, column: int | None = None) -> str:
    """json's message with its position kept: "Unterminated string starting at" names the place only
    in the position that follows it, so it is never left hanging (a cut file ends in such a string)."""
    if message.endswith(" at"):
        return (
            f"{message} column {column}" if column else message.removesuffix(" at").removesuffix(" starting")
        )
    return f"{message} (column {column})" if column else message


def _maybe_truncated(exc: json.JSONDecodeError, length: int) -> bool:
    """Whether a decode error may only mean that the chunk ended inside the value."""
    return exc.pos >= length - 16 or exc.msg.startswith("Unterminated string")


def _utf8_cut(data: bytes) -> int:
    """Index where an incomplete UTF-8 sequence at the end of ``data`` starts (``len(data)`` if none)."""
    end = len(data)
    i = end - 1
    while i >= 0 and end - i < 4 and data[i] & 0xC0 == 0x80:
        i -= 1
    if i < 0:
        return end
    lead = data[i]
    need = 2 if lead >> 5 == 0b110 else 3 if lead >> 4 == 0b1110 else 4 if lead >> 3 == 0b11110 else 1
    return i if end - i < need else end
