"""Disks that really fill up (ENOSPC) for fault-injection tests: a small tmpfs, and a file that takes
the room on it."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings


@contextlib.contextmanager
def small_disk(size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted under the test var dir: a disk that really fills up (ENOSPC). The test
    is skipped, saying why, where this machine does not let it mount one."""
    path = Path(settings.VAR_DIR) / f"small-disk-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
        )
    except FileNotFoundError:
        pytest.skip("no mount command on this machine: a small tmpfs is how this test fills a disk")
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs needs root with CAP_SYS_ADMIN: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)
        path.rmdir()


def fill(disk: Path, leave: int) -> Path:
    """A file that takes all the room on ``disk`` but ``leave`` bytes."""
    filler = disk / f"filler-{len(list(disk.glob('filler-*')))}"
    stats = os.statvfs(disk)
    with filler.open("wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, stats.f_bavail * stats.f_frsize - leave)
    return filler
