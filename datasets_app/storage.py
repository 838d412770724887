"""Where dataset files live in storage (local disk or S3, see settings.STORAGES) and moving them about.

Layout: ``datasets/<org id | presets>/<uid>/original/<file name>`` and ``datasets/<...>/<uid>/normalised.jsonl``.
Nothing here trusts a user's file name: it has passed ``ingest.safe_filename`` before it becomes a path.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage

logger = logging.getLogger(__name__)
COPY_BUFFER = 1 << 20


def dataset_prefix(dataset) -> str:
    owner = dataset.organization_id if dataset.organization_id else "presets"
    return f"datasets/{owner}/{dataset.uid}"


def original_name(dataset, filename: str) -> str:
    return f"{dataset_prefix(dataset)}/original/{filename}"


def normalised_name(dataset) -> str:
    return f"{dataset_prefix(dataset)}/normalised.jsonl"


def save_local_file(local_path: str | os.PathLike, name: str) -> str:
    """Copy a local file into storage under ``name``; returns the name storage actually used."""
    with open(local_path, "rb") as handle:
        return default_storage.save(name, File(handle, name=Path(name).name))


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(COPY_BUFFER):
            digest.update(chunk)
    return digest.hexdigest()


def copy_to_local(name: str, local_path: str | os.PathLike) -> str:
    """Copy a stored file to local disk (S3 or not); returns the sha256 of what was copied."""
    digest = hashlib.sha256()
    with default_storage.open(name, "rb") as source, open(local_path, "wb") as target:
        while chunk := source.read(COPY_BUFFER):
            digest.update(chunk)
            target.write(chunk)
    return digest.hexdigest()


def upload_on_disk(uploaded_file, work_dir: str | os.PathLike) -> Path:
    """A local path holding a Django upload: its own temporary file when Django spooled it to disk,
    else a copy written under ``work_dir``."""
    temporary = getattr(uploaded_file, "temporary_file_path", None)
    if temporary is not None:
        return Path(temporary())
    path = Path(work_dir) / "upload"
    uploaded_file.seek(0)
    with open(path, "wb") as target:
        for chunk in uploaded_file.chunks():
            target.write(chunk)
    return path


def delete_files(names: Iterable[str]) -> None:
    """Delete stored files, logging (not raising) on failure: a leftover file must not undo a commit."""
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except Exception:  # noqa: BLE001 - logged; the row is already gone or never existed
            logger.exception("could not delete stored dataset file %s", name)
