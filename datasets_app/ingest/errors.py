"""Errors raised by the ingest engine.

Two kinds of problem exist:

- :class:`FileError` — the whole upload is refused (the web layer answers HTTP 400). It carries a stable
  ``code`` the API can switch on, a ``message`` a user can act on, and ``line`` where one is known.
- :class:`RowError` — one row is bad. Under the ``drop`` policy the row is dropped and reported; under
  ``reject`` the first one becomes a ``FileError`` with code ``invalid_row``.
"""

from __future__ import annotations

from dataclasses import dataclass

# Stable codes of FileError, for the API layer.
BAD_FILENAME = "bad_filename"
UNSUPPORTED_EXTENSION = "unsupported_extension"
EMPTY_FILE = "empty_file"
TOO_LARGE = "too_large"
LINE_TOO_LONG = "line_too_long"
NOT_UTF8 = "not_utf8"
NOT_JSON = "not_json"
NOT_GZIP = "not_gzip"
WRONG_TOP_LEVEL = "wrong_top_level"
UNKNOWN_FORMAT = "unknown_format"
INVALID_OPTIONS = "invalid_options"
INVALID_ROW = "invalid_row"
TOO_MANY_BAD_ROWS = "too_many_bad_rows"
NO_ROWS = "no_rows"
NOT_TEXT = "not_text"
CR_LINE_ENDS = "cr_line_ends"
COMPRESSION_RATIO = "compression_ratio"
CANCELLED = "cancelled"


class IngestError(Exception):
    """Base class of everything the ingest engine raises on purpose."""


class FileError(IngestError):
    """The file as a whole cannot be accepted.

    ``code`` is one of the module-level constants; ``line`` is the 1-based line number where the problem
    was found, when there is one.
    """

    def __init__(self, code: str, message: str, *, line: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "line": self.line}

    def __repr__(self) -> str:
        return f"FileError({self.code!r}, {self.message!r}, line={self.line!r})"


class OverBudget(IngestError):
    """More data than the caller's ``work_budget_bytes`` (not an error of the file): the upload is too
    big to finish within the request, so the caller hands it to a background worker instead."""


class RowInvalid(IngestError):
    """Raised by a normaliser for a bad row; the pipeline adds the location and makes a RowError."""

    def __init__(self, kind: str, field: str | None, message: str):
        super().__init__(message)
        self.kind = kind
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RowError:
    """One bad row.

    ``line`` is the 1-based line where the row starts. ``item`` is the 0-based index in a top-level JSON
    array (``None`` for JSON lines and text). ``field`` is the path of the offending field
    (``"conversations"[2].from``) or ``None``; ``kind`` groups errors for counting.
    """

    line: int
    item: int | None
    kind: str
    field: str | None
    message: str

    @property
    def location(self) -> str:
        if self.item is None:
            return f"line {self.line}"
        return f"item {self.item} (line {self.line})"

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"

    def to_dict(self) -> dict:
        return {
            "line": self.line,
            "item": self.item,
            "kind": self.kind,
            "field": self.field,
            "message": self.message,
            "text": str(self),
        }
