"""Background processing of large uploads: one RQ job per dataset, on the queue ``default``.

uploaded -> processing -> ready | failed. The claim and every later write are conditional UPDATEs, so a
second worker, a duplicate job or a dataset deleted meanwhile is simply skipped; the normalised file is
written locally, stored only when complete, and referenced by the row only after that.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from django.utils import timezone

from llm_platform.db import best_effort, retrying

from .ingest import FileError
from .models import Dataset, DatasetStatus
from .processing import ready_fields, run_ingest, store_normalised
from .storage import copy_to_local, delete_files

logger = logging.getLogger(__name__)

# Progress is written at most this often (a write per second is nothing; one per row would be).
PROGRESS_SECONDS = 1.0
PROGRESS_ROWS = 5_000


def process_dataset(dataset_id: int) -> str:
    """Process an ``uploaded`` dataset; returns its final status (or ``skipped``)."""
    claimed = Dataset.objects.filter(pk=dataset_id, status=DatasetStatus.UPLOADED).update(
        status=DatasetStatus.PROCESSING, progress=0.0, updated_at=timezone.now()
    )
    if not claimed:
        return "skipped"
    dataset = Dataset.objects.filter(pk=dataset_id).first()
    if dataset is None:  # deleted right after we claimed it
        return "skipped"
    with tempfile.TemporaryDirectory(prefix="tf-dataset-") as work:
        try:
            source = Path(work) / "original"
            copy_to_local(dataset.original_file.name, source)
            result, out_path = run_ingest(
                dataset, source, Path(work), progress=_reporter(dataset_id), progress_every=PROGRESS_ROWS
            )
            normalised, sha256 = store_normalised(dataset, out_path)
        except FileError as exc:
            return _refuse(dataset, exc)
        except Exception:
            logger.exception("processing dataset %s failed", dataset_id)
            _fail(
                dataset_id,
                "internal_error",
                "Processing failed unexpectedly; the operators have the details.",
            )
            raise
    finished = retrying(
        lambda: Dataset.objects.filter(pk=dataset_id, status=DatasetStatus.PROCESSING).update(
            **ready_fields(result, normalised, sha256)
        ),
        what=f"the result of dataset {dataset_id}",
    )
    if not finished:  # deleted (or reset) while we worked: keep no orphan file
        delete_files([normalised])
        return "skipped"
    return DatasetStatus.READY


def save_progress(dataset_id: int, fraction: float) -> None:
    # Below 1 until the row is ready: storing the normalised file is still ahead. Only informative: a
    # locked database skips it (the next report writes a newer one) instead of failing the ingest.
    best_effort(
        lambda: Dataset.objects.filter(pk=dataset_id, status=DatasetStatus.PROCESSING).update(
            progress=round(min(max(fraction, 0.0), 0.99), 4), updated_at=timezone.now()
        ),
        what=f"the progress of dataset {dataset_id}",
    )


def _reporter(dataset_id: int):
    last = 0.0

    def report(bytes_done: int, bytes_total: int, rows: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_SECONDS:
            last = now
            save_progress(dataset_id, bytes_done / bytes_total if bytes_total else 1.0)

    return report


def _refuse(dataset: Dataset, error: FileError) -> str:
    """The file is refused: the row says why, and no copy of the data is kept (the user fixes the file
    and uploads it again; an unexpected failure keeps the original, so operators can process it again)."""
    status = _fail(dataset.pk, error.code, error.message, original_file="")
    if status == DatasetStatus.FAILED:
        delete_files([dataset.original_file.name])
    return status


def _fail(dataset_id: int, code: str, message: str, **fields) -> str:
    failed = retrying(
        lambda: Dataset.objects.filter(pk=dataset_id, status=DatasetStatus.PROCESSING).update(
            status=DatasetStatus.FAILED,
            progress=0.0,
            error_code=code,
            error_message=message,
            updated_at=timezone.now(),
            **fields,
        ),
        what=f"the failure of dataset {dataset_id}",
    )
    return DatasetStatus.FAILED if failed else "skipped"
