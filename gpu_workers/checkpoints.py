"""Checkpoints in storage as well as on the worker's disk, so a job resumes on any host.

While a job trains, each new complete checkpoint is copied to storage (``<job prefix>/checkpoints/``) by a
thread beside the runner; only the newest is kept, and a manifest written last says which one is whole.
A run that finds no local checkpoint as new as the stored one (the job moved to another host, or this
host's disk was wiped) fetches it first, so the trainer resumes from it instead of starting over.
Set ``CHECKPOINTS_IN_STORAGE=false`` to keep checkpoints on the worker's disk only (large full
fine-tunes on slow storage).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

from training_app.artifacts import delete_artifacts, download_files, job_prefix, upload_directory
from training_app.trainer.disk import says_disk_full
from training_app.trainer.train import CHECKPOINT_DIR, complete_checkpoint, latest_complete_checkpoint

logger = logging.getLogger(__name__)
MANIFEST = "latest.json"


def enabled() -> bool:
    return bool(settings.CHECKPOINTS_IN_STORAGE)


def storage_prefix(job) -> str:
    return f"{job_prefix(job)}/checkpoints"


def stored_manifest(prefix: str) -> dict | None:
    """``{"step", "files"}`` of the newest stored checkpoint, or None."""
    name = f"{prefix}/{MANIFEST}"
    try:
        if not default_storage.exists(name):
            return None
        with default_storage.open(name, "rb") as handle:
            manifest = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("step"), int) else None


def local_step(output_dir: Path) -> int:
    """The step of the newest whole checkpoint on this disk (0 when none), as the trainer resumes from it."""
    newest = latest_complete_checkpoint(str(output_dir))
    return int(CHECKPOINT_DIR.match(Path(newest).name).group(1)) if newest else 0


def fetch_newer(job, output_dir: Path) -> int | None:
    """Copy the stored checkpoint here when it is newer than any on this disk; returns its step."""
    manifest = stored_manifest(storage_prefix(job))
    if manifest is None or manifest["step"] <= local_step(output_dir):
        return None
    step = manifest["step"]
    target = output_dir / f"checkpoint-{step}"
    partial = output_dir / f".checkpoint-{step}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        download_files(manifest["files"], partial)
        if not complete_checkpoint(partial):
            raise ValueError("the stored checkpoint is incomplete")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return step


def not_stored(step: int, exc: Exception) -> str:
    why = "no space left in storage" if says_disk_full(exc) else f"{type(exc).__name__}: {exc}"
    return (
        f"Could not copy checkpoint {step} to storage ({why}); it is kept on this worker's disk only, "
        "so a resume on another host would start from an older one."
    )


def delete_stored(job) -> None:
    delete_artifacts(storage_prefix(job))


class CheckpointUploader(threading.Thread):
    """Copies checkpoints to storage one at a time, newest first: a newer one replaces one still waiting."""

    def __init__(self, prefix: str, warn: Callable[[str], None] | None = None):
        super().__init__(name=f"checkpoints-{prefix}", daemon=True)
        self.prefix = prefix
        self.warn = warn  # tells the job's log that a checkpoint could not be stored
        self.pending: tuple[int, Path] | None = None
        self.stored_step = (stored_manifest(prefix) or {}).get("step", 0)
        self.closing = False
        self.condition = threading.Condition()

    def submit(self, path: Path, step: int) -> None:
        with self.condition:
            if self.closing or step <= self.stored_step:
                return
            if self.pending is None or step > self.pending[0]:
                self.pending = (step, path)
            self.condition.notify()

    def close(self, *, wait: bool, timeout: float | None = None) -> None:
        """No more checkpoints; with ``wait`` the one waiting is still stored (the next host needs it)."""
        with self.condition:
            self.closing = True
            if not wait:
                self.pending = None
            self.condition.notify()
        self.join(timeout)

    def run(self) -> None:
        try:
            while True:
                with self.condition:
                    while self.pending is None and not self.closing:
                        self.condition.wait()
                    if self.pending is None:
                        return
                    step, path = self.pending
                    self.pending = None
                try:
                    self.store(step, path)
                except Exception as exc:  # noqa: BLE001 - the local copy still serves a resume on this host
                    logger.warning("could not store checkpoint %s of %s", step, self.prefix, exc_info=True)
                    if self.warn is not None:
                        with contextlib.suppress(Exception):  # the database is down too: the log line stays
                            self.warn(not_stored(step, exc))
        finally:
            connection.close()  # the warnings were written from this thread

    def store(self, step: int, path: Path) -> None:
        if not complete_checkpoint(path):
            return  # rotated away (save_total_limit) or half-written: a newer one follows
        copy = f"{self.prefix}/checkpoint-{step}"
        previous = stored_manifest(self.prefix)
        try:
            files = upload_directory(path, copy, skip=())
            self.save_manifest({"step": step, "files": files})
        except Exception:
            # A partial copy is never used; deleting it makes room to put back the manifest of the
            # checkpoint stored before (storage may have been full), which stays the one to resume from.
            delete_artifacts(copy)
            if previous is not None and stored_manifest(self.prefix) != previous:
                self.save_manifest(previous)
            raise
        self.stored_step = step
        if previous is not None and previous["step"] != step:
            delete_artifacts(f"{self.prefix}/checkpoint-{previous['step']}")
        logger.info("stored checkpoint %s of %s", step, self.prefix)

    def save_manifest(self, manifest: dict) -> None:
        name = f"{self.prefix}/{MANIFEST}"
        if default_storage.exists(name):
            default_storage.delete(name)
        default_storage.save(name, ContentFile(json.dumps(manifest).encode()))
