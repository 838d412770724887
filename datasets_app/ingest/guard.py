"""Bounded reading of an upload: what a file may unpack to, and files that are not UTF-8 text at all.

:class:`Guarded` sits under the parsers' buffer and sees every chunk before any line is split, so the
work a file can cause is bounded by bytes, not by how many (blank) lines it packs: a gzip bomb (a 2 MB
file of two billion blank lines took 484 s of web CPU before this) is refused after its first chunks.
It also asks ``cancelled()`` between chunks, so work whose requester has gone stops.

:func:`refuse_not_text` names what a file is when it is not UTF-8 text: UTF-16 or UTF-32 (with or
without a byte-order mark), CR-only line ends, NUL bytes, or a known binary or markup format.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from .errors import (
    CANCELLED,
    COMPRESSION_RATIO,
    CR_LINE_ENDS,
    NOT_TEXT,
    NOT_UTF8,
    TOO_LARGE,
    FileError,
    OverBudget,
)

GZIP_MAGIC = b"\x1f\x8b"
READ_CHUNK = 1 << 16
# The compression ratio is judged once this much has been unpacked: a small file of repeated rows may
# pack tighter than any limit and is harmless.
RATIO_FLOOR_BYTES = 1 << 20

_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive; unzip it and upload the .jsonl, .json or .txt inside"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"BZh", "bzip2-compressed; unpack it, or compress it with gzip (.jsonl.gz)"),
    (b"\xfd7zXZ\x00", "xz-compressed; unpack it, or compress it with gzip (.jsonl.gz)"),
    (b"(\xb5/\xfd", "zstd-compressed; unpack it, or compress it with gzip (.jsonl.gz)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "a program (ELF binary)"),
    (b"PAR1", "a Parquet file; export it as JSON lines"),
    (b"\xd0\xcf\x11\xe0", "a legacy Microsoft Office document"),
)
_MARKUP = ((b"<!doctype html", "an HTML page"), (b"<html", "an HTML page"), (b"<?xml", "an XML document"))
_UTF32 = ((b"\xff\xfe\x00\x00", "little-endian"), (b"\x00\x00\xfe\xff", "big-endian"))
_UTF16 = ((b"\xff\xfe", "little-endian"), (b"\xfe\xff", "big-endian"))


def megabytes(size: int) -> str:
    """A byte count as a person reads a limit (``1024 MB``, ``5000 bytes``)."""
    return f"{round(size / (1 << 20), 1):g} MB" if size >= 1 << 20 else f"{size} bytes"


class Guarded(io.RawIOBase):
    """The bytes the parsers read (unpacked, for gzip), counted and checked a chunk at a time.

    ``max_bytes`` and ``max_ratio`` bound what a compressed file unpacks to (``raw`` is the file on disk,
    whose position tells how much of it was unpacked so far); ``budget`` raises :class:`OverBudget`.
    """

    def __init__(
        self,
        inner,
        raw,
        *,
        max_bytes: int | None = None,
        max_ratio: float | None = None,
        budget: int | None = None,
        cancelled: Callable[[], bool] | None = None,
    ):
        super().__init__()
        self._inner, self._raw = inner, raw
        self._max_bytes, self._max_ratio = max_bytes, max_ratio
        self._budget, self._cancelled = budget, cancelled
        self._seen = 0

    @classmethod
    def open(cls, inner, raw, **limits) -> io.BufferedReader:
        return io.BufferedReader(cls(inner, raw, **limits), READ_CHUNK)

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        """Bytes handed on so far: the buffer above subtracts what it holds unread."""
        return self._seen

    def readinto(self, buffer) -> int:
        if self._cancelled is not None and self._cancelled():
            raise FileError(CANCELLED, "the upload was cancelled: the client went away")
        count = self._inner.readinto(buffer)
        self._seen += count
        self._check()
        return count

    def _check(self) -> None:
        seen = self._seen
        if self._max_bytes is not None and seen > self._max_bytes:
            raise FileError(
                TOO_LARGE,
                f"the file unpacks to more than {megabytes(self._max_bytes)}, the limit for the "
                "unpacked data of a compressed upload",
            )
        if self._max_ratio and seen > RATIO_FLOOR_BYTES:
            packed = max(1, self._raw.tell())
            if seen > self._max_ratio * packed:
                raise FileError(
                    COMPRESSION_RATIO,
                    f"the file unpacks to more than {self._max_ratio:g} times its compressed size "
                    f"({megabytes(seen)} from the first {megabytes(packed)}), over the limit of "
                    f"{self._max_ratio:g}:1 for compressed uploads; upload it uncompressed",
                )
        if self._budget is not None and seen > self._budget:
            raise OverBudget(f"more than {self._budget} bytes to read")

    def close(self) -> None:
        if self._inner is not self._raw:
            self._inner.close()
        super().close()


def refuse_not_text(head: bytes, *, json_array: bool) -> None:
    """Refuse a file whose first bytes show it is not UTF-8 JSON or text, saying what it is instead."""
    for magic, endian in _UTF32:
        if head.startswith(magic):
            raise _encoding(f"UTF-32 encoded ({endian}, with a byte-order mark)")
    for magic, endian in _UTF16:
        if head.startswith(magic):
            raise _encoding(f"UTF-16 encoded ({endian}, with a byte-order mark)")
    if b"\x00" in head:
        endian = _utf16_without_bom(head)
        if endian:
            raise _encoding(f"UTF-16 encoded ({endian}, without a byte-order mark)")
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise FileError(NOT_TEXT, f"the file is {what}, not JSON or text", line=1)
    start = head.lstrip()[:16].lower()
    for magic, what in _MARKUP:
        if start.startswith(magic):
            raise FileError(NOT_TEXT, f"the file is {what}, not JSON or text", line=1)
    if b"\x00" in head:
        at = head.index(b"\x00")
        line = head.count(b"\n", 0, at) + 1
        raise FileError(
            NOT_TEXT,
            f"line {line}: the file holds NUL bytes (byte offset {at}): it is binary, not UTF-8 text",
            line=line,
        )
    if not json_array and b"\n" not in head and b"\r" in head.rstrip(b"\r\t "):
        raise FileError(
            CR_LINE_ENDS,
            "the file has CR-only line ends (classic Mac); save it with LF (Unix) or CRLF (Windows) line ends",
            line=1,
        )


def _encoding(what: str) -> FileError:
    return FileError(NOT_UTF8, f"line 1: the file is {what}; save it as UTF-8", line=1)


def _utf16_without_bom(head: bytes) -> str | None:
    """ASCII-heavy text in UTF-16 has a NUL in every other byte: odd ones (LE) or even ones (BE)."""
    pairs = len(head) // 2
    if pairs < 2:
        return None
    even_nul = head[0 : 2 * pairs : 2].count(0)
    odd_nul = head[1 : 2 * pairs : 2].count(0)
    if odd_nul >= 0.6 * pairs and even_nul <= 0.1 * pairs:
        return "little-endian"
    if even_nul >= 0.6 * pairs and odd_nul <= 0.1 * pairs:
        return "big-endian"
    return None
