"""Adapters and weights fetched from storage (local disk or S3) to a local cache the engines read.

A cache entry is named after the stored files it holds (names and sizes), so a different artifact never
reuses a stale copy. Entries are built beside their final place and renamed, so an engine never sees half
an adapter, and a marker file says the copy is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from serving_app.conf import serving_dir
from training_app.artifacts import download_files

COMPLETE = ".tuneforge-complete"


def cache_root() -> Path:
    root = serving_dir() / "cache"
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_path(files: list[dict]) -> Path:
    listing = json.dumps(sorted((f["name"], f.get("size")) for f in files))
    return cache_root() / hashlib.sha256(listing.encode()).hexdigest()[:24]


def materialise(files: list[dict]) -> Path:
    """The local directory holding ``files`` (``[{"path", "name"}]`` in storage), fetched if needed."""
    target = cache_path(files)
    if (target / COMPLETE).is_file():
        return target
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        download_files(files, tmp)
        (tmp / COMPLETE).touch()
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def prune(keep: set[Path]) -> list[Path]:
    """Delete cache entries nobody uses any more; returns what was removed."""
    removed = []
    for entry in cache_root().iterdir():
        if entry.is_dir() and not entry.name.startswith(".") and entry not in keep:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed
