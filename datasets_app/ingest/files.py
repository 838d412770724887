"""Upload file names: refuse path tricks, tell the layout from the extension."""

from __future__ import annotations

import unicodedata

from .errors import BAD_FILENAME, UNSUPPORTED_EXTENSION, FileError

# Longest first: ".jsonl.gz" must win over ".gz"-less matches.
EXTENSIONS = (".jsonl.gz", ".json.gz", ".jsonl", ".json", ".txt")
MAX_FILENAME_BYTES = 255
# Device names Windows reserves whatever the extension: such a file cannot be saved or downloaded there.
RESERVED_NAMES = frozenset(
    ["con", "prn", "aux", "nul"] + [f"{port}{n}" for port in ("com", "lpt") for n in range(1, 10)]
)


def safe_filename(name: str) -> str:
    """Return ``name`` unchanged if it is a plain file name, else raise ``FileError(bad_filename)``.

    A plain name has no directory part (no ``/`` or ``\\``), is not ``.`` or ``..``, has no NUL or other
    control character, no leading or trailing whitespace, is at most 255 bytes of UTF-8 and is not a device
    name Windows reserves (``CON``, ``NUL``, ``COM1``...).
    """
    if not isinstance(name, str) or not name:
        raise FileError(BAD_FILENAME, "the file name is empty")
    shown = name.encode("unicode_escape").decode("ascii")
    if "/" in name or "\\" in name:
        raise FileError(BAD_FILENAME, f'file name "{shown}" must not contain a path ("/" or "\\")')
    if name in (".", ".."):
        raise FileError(BAD_FILENAME, f'file name "{shown}" is not a file name')
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise FileError(BAD_FILENAME, f'file name "{shown}" contains a control character')
    if name != name.strip():
        raise FileError(BAD_FILENAME, f'file name "{shown}" starts or ends with whitespace')
    if len(name.encode("utf-8")) > MAX_FILENAME_BYTES:
        raise FileError(BAD_FILENAME, f"file name is longer than {MAX_FILENAME_BYTES} bytes")
    if name.split(".", 1)[0].lower() in RESERVED_NAMES:
        raise FileError(BAD_FILENAME, f'file name "{shown}" is a reserved device name on Windows; rename it')
    return name


def file_extension(name: str) -> str:
    """The supported extension of ``name`` (lower case), or ``FileError(unsupported_extension)``."""
    lower = name.lower()
    for ext in EXTENSIONS:
        if lower.endswith(ext) and len(lower) > len(ext):
            return ext
    expected = ", ".join(EXTENSIONS[:-1]) + " or " + EXTENSIONS[-1]
    raise FileError(UNSUPPORTED_EXTENSION, f'unsupported file type "{name}": expected {expected}')
