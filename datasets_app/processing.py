"""The one path from a file on local disk to a ready dataset: ingest, store, record.

Uploads processed within the request, the background task and the presets all go through here, so they
validate, clean and count alike. Nothing is stored until the ingest engine has accepted the whole file.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .ingest import FileError, IngestOptions, IngestResult, ingest
from .models import Dataset, DatasetStatus
from .storage import delete_files, normalised_name, original_name, save_local_file, sha256_of

MB = 1024 * 1024
TOKENIZER_UNAVAILABLE = "tokenizer_unavailable"
DEFAULT_OPTIONS = {
    "policy": "drop",
    "dedupe": True,
    "trim": True,
    "drop_empty": True,
    "max_sample_chars": None,
    "text_split": "auto",
}


def ingest_options(
    options: dict,
    *,
    progress_every: int = 10_000,
    work_budget_bytes: int | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> IngestOptions:
    """The engine's options from what a dataset stores in ``options`` and the platform's size limits."""
    return IngestOptions(
        policy=options.get("policy", "drop"),
        trim_whitespace=options.get("trim", True),
        drop_empty_turns=options.get("drop_empty", True),
        dedupe=options.get("dedupe", True),
        max_sample_chars=options.get("max_sample_chars"),
        max_file_bytes=max(1, settings.MAX_UPLOAD_MB * MB),
        max_line_bytes=max(1, settings.MAX_LINE_KB * 1024),
        max_unpacked_bytes=max(1, settings.MAX_UNPACKED_MB * MB),
        max_compression_ratio=max(1, settings.MAX_COMPRESSION_RATIO),
        work_budget_bytes=work_budget_bytes,
        cancelled=cancelled,
        progress_every=progress_every,
        text_split=options.get("text_split", "auto"),
    )


@functools.lru_cache(maxsize=4)
def _tokenizer_at(path: str, trust_remote_code: bool):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)


def load_tokenizer(base_model_id: int | None):
    """The tokenizer of a base model on local disk (under MODEL_ROOTS), or None when none was chosen."""
    if not base_model_id:
        return None
    from training_app.base_models import hide_server_paths, path_under_model_roots
    from training_app.models import BaseModel

    base = BaseModel.objects.filter(pk=base_model_id).first()
    if base is None or not base.path:
        raise FileError(TOKENIZER_UNAVAILABLE, "the chosen base model is gone or has no local tokenizer")
    try:
        return _tokenizer_at(str(path_under_model_roots(base.path)), base.trust_remote_code)
    except Exception as exc:  # noqa: BLE001 - any loader failure becomes the user's answer
        problem = hide_server_paths(str(exc), base)  # the uploader is no operator: no directories
        raise FileError(
            TOKENIZER_UNAVAILABLE, f'cannot load the tokenizer of "{base.name}": {problem}'
        ) from exc


def run_ingest(
    dataset: Dataset, src_path: Path, work_dir: Path, *, progress=None, progress_every=10_000, **limits
):
    """Ingest ``src_path`` as ``dataset`` asks; returns the result and the local normalised file.
    ``limits`` are :func:`ingest_options`' ``work_budget_bytes`` and ``cancelled``."""
    out_path = Path(work_dir) / "normalised.jsonl"
    result = ingest(
        src_path,
        out_path,
        filename=dataset.original_filename,
        format=dataset.requested_format or None,
        mapping=dataset.options.get("mapping"),
        options=ingest_options(dataset.options, progress_every=progress_every, **limits),
        progress=progress,
        tokenizer=load_tokenizer(dataset.options.get("tokenizer")),
    )
    return result, out_path


def ready_fields(result: IngestResult, normalised: str, sha256: str) -> dict:
    """What a dataset records once its normalised file is stored."""
    return {
        "status": DatasetStatus.READY,
        "progress": 1.0,
        "error_code": "",
        "error_message": "",
        "format": result.format,
        "kind": result.kind,
        "has_placeholders": bool(result.stats.get("placeholders")),
        "rows_in": result.rows_in,
        "num_rows": result.rows_out,
        "stats": result.stats,
        "row_errors": [error.to_dict() for error in result.errors],
        "error_counts": result.error_counts,
        "normalised_file": normalised,
        "sha256": sha256,
        "updated_at": timezone.now(),
    }


def store_normalised(dataset: Dataset, out_path: Path) -> tuple[str, str]:
    """Store the normalised file; returns (storage name, sha256). The sha256 is the dataset's version."""
    sha256 = sha256_of(out_path)
    return save_local_file(out_path, normalised_name(dataset)), sha256


def ingest_and_store(dataset: Dataset, src_path: Path, **limits) -> Dataset:
    """Ingest a local file within this call, store original and normalised, save the row as ready.

    Raises the engine's :class:`FileError` (or :class:`OverBudget`, see :func:`run_ingest`'s ``limits``)
    before anything is stored. A dataset that already had files
    (a refreshed preset) has its old files deleted once the new ones are committed.
    """
    old_files = {dataset.original_file.name, dataset.normalised_file.name} - {""}
    with tempfile.TemporaryDirectory(prefix="tf-ingest-") as work:
        dataset.status = DatasetStatus.PROCESSING
        result, out_path = run_ingest(dataset, src_path, Path(work), **limits)
        stored: list[str] = []
        try:
            stored.append(save_local_file(src_path, original_name(dataset, dataset.original_filename)))
            dataset.original_file.name = stored[-1]
            normalised, sha256 = store_normalised(dataset, out_path)
            stored.append(normalised)
            for name, value in ready_fields(result, normalised, sha256).items():
                setattr(dataset, name, value)
            with transaction.atomic():
                dataset.save()
        except BaseException:
            delete_files(stored)
            raise
    if old_files:
        transaction.on_commit(lambda: delete_files(old_files - set(stored)))
    return dataset
