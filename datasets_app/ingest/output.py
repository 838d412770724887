"""Writing output files all-or-nothing, and reading canonical JSON lines back."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

WRITE_BUFFER = 1 << 20

encode_row = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""Canonical row -> compact JSON text (UTF-8 kept as is)."""


class AtomicOutput:
    """A binary file written under a temporary name in the target's directory, renamed into place on
    success and deleted on any failure, so a reader never sees a half-written file."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.temp_path: Path | None = None
        self.file: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent)
        self.temp_path = Path(name)
        self.file = os.fdopen(fd, "wb", buffering=WRITE_BUFFER)
        return self.file

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.file.close()
        finally:
            if exc_type is None:
                os.replace(self.temp_path, self.path)
            else:
                self.temp_path.unlink(missing_ok=True)


def read_rows(path: str | os.PathLike) -> Iterator[dict]:
    """The rows of a canonical JSON-lines file, one at a time."""
    with open(path, encoding="utf-8") as file:
        for line in file:
            if line.strip():
                yield json.loads(line)


def iter_lines(path: str | os.PathLike) -> Iterator[bytes]:
    """The non-blank lines of a canonical file as bytes, each ending with a newline."""
    with open(path, "rb") as file:
        for line in file:
            if line.strip():
                yield line if line.endswith(b"\n") else line + b"\n"
