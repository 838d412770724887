"""Domain errors of datasets, answered by the API, the Bisheng API and the portal alike."""

from __future__ import annotations

from llm_platform.errors import DomainError

from .ingest import FileError


class UploadRejected(DomainError):
    """An upload the ingest engine refused: HTTP 400 with the engine's code, the file name and the line."""

    def __init__(self, error: FileError, filename: str):
        self.filename = filename
        self.line = error.line
        super().__init__(
            f"{filename}: {error.message}" if filename else error.message,
            fields={"file": filename, "line": error.line},
            code=error.code,
        )


class ReadOnlyDataset(DomainError):
    """A preset shared with every organization: readable by all, changed only by its owner or operators."""

    status = 403
    code = "read_only"


def shown_name(name: str) -> str:
    """A user-supplied file name made safe to echo (control characters escaped, length capped)."""
    shown = name.encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= 120 else shown[:117] + "..."
