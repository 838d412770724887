"""A full disk, told apart from other failures, and said in words a person can act on.

The libraries that write checkpoints do not all keep the errno: Python's own writes raise OSError(ENOSPC),
the tokenizers library says "No space left on device (os error 28)" in a plain Exception, safetensors says
"StorageFull", and torch's zip writer only says "unexpected pos ...". So a failure counts as a full disk
when it says so anywhere in its chain, or when the disk it was writing to has (next to) nothing left.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

NEARLY_FULL_BYTES = 1 << 20  # less than this free after a failed write: it failed for want of space
_SAID = ("no space left on device", "os error 28", "storagefull", "disk quota exceeded")


def free_bytes(path: Path) -> int | None:
    """Free bytes on the file system of ``path`` (or of its nearest existing parent); None if unknown."""
    for candidate in (path, *path.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def says_disk_full(exc: BaseException) -> bool:
    """ENOSPC or EDQUOT, or a library's words for them, anywhere in the exception's chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(words in str(current).lower() for words in _SAID):
            return True
        current = current.__cause__ or current.__context__
    return False


def disk_full(exc: BaseException, path: Path) -> bool:
    """``exc``, raised while writing under ``path``, came from a full disk."""
    if says_disk_full(exc):
        return True
    free = free_bytes(path)
    return free is not None and free < NEARLY_FULL_BYTES


def no_space(what: str, path: Path) -> str:
    """The reason shown to the user: what was being written, where, what is left, and what to do."""
    free = free_bytes(path)
    left = f" ({free / 2**20:.1f} MB free on that disk)" if free is not None else ""
    return (
        f"No space left on device while writing {what} to {path}{left}. "
        "Free space on the worker's disk and retry the job."
    )
