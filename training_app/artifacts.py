"""Job outputs in storage (local disk or S3): upload after a run, list, download, delete."""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

from django.core.files import File
from django.core.files.storage import default_storage


def job_prefix(job) -> str:
    return f"jobs/{job.organization_id}/{job.uid}"


def upload_directory(local_dir: Path, prefix: str, *, skip=("checkpoint-",)) -> list[dict]:
    """Copy a finished run's files to storage; resumable checkpoints stay on the worker's disk."""
    stored = []
    for path in sorted(local_dir.rglob("*")):
        relative = path.relative_to(local_dir)
        if not path.is_file() or any(part.startswith(skip) for part in relative.parts):
            continue
        name = f"{prefix}/{relative.as_posix()}"
        if default_storage.exists(name):
            default_storage.delete(name)
        with path.open("rb") as handle:
            saved = default_storage.save(name, File(handle))
        stored.append({"path": relative.as_posix(), "name": saved, "size": path.stat().st_size})
    return stored


def download_files(files: list[dict], directory: Path) -> None:
    """Copy stored files (``[{"path", "name"}]``, as ``upload_directory`` lists them) under ``directory``."""
    for entry in files:
        relative = PurePosixPath(entry["path"])
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ValueError(f"unsafe artifact path {entry['path']!r}")
        destination = directory / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        with default_storage.open(entry["name"], "rb") as source, destination.open("wb") as sink:
            shutil.copyfileobj(source, sink, length=1024 * 1024)


def delete_artifacts(prefix: str) -> None:
    def walk(directory: str):
        dirs, files = default_storage.listdir(directory)
        for file_name in files:
            default_storage.delete(f"{directory}/{file_name}")
        for sub in dirs:
            walk(f"{directory}/{sub}")
        try:  # on a local disk the emptied directory goes too (object stores have none)
            os.rmdir(default_storage.path(directory))
        except (NotImplementedError, OSError):
            pass

    try:
        walk(prefix)
    except FileNotFoundError:
        return
