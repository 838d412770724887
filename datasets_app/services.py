"""Datasets' business logic: the portal, the REST API, the Bisheng API and the admin all call these.

Small files are ingested within the request and answered with their counts; larger ones are stored as
``uploaded`` and processed by :func:`datasets_app.tasks.process_dataset` on the RQ queue ``default``,
enqueued once the row is committed. Either way a refused file leaves no row and no stored file.
"""

from __future__ import annotations

import itertools
import json
import logging
import tempfile
import uuid
from collections.abc import Callable, Sequence

import django_rq
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.http import FileResponse
from django.utils import timezone

from llm_platform import input_guard
from llm_platform.db import retrying
from llm_platform.errors import Conflict, DomainError, NotFound
from llm_platform.input_guard import as_id
from llm_platform.tenancy import scoped
from training_app.models import ACTIVE_STATUSES

from .errors import ReadOnlyDataset, UploadRejected, shown_name
from .ingest import ColumnMapping, FileError, OverBudget, safe_filename
from .ingest.errors import EMPTY_FILE, TOO_LARGE
from .ingest.files import file_extension
from .ingest.formats import check_format
from .models import Dataset, DatasetKind, DatasetStatus
from .processing import DEFAULT_OPTIONS, MB, ingest_and_store, ingest_options
from .reconcile import rq_job_id
from .storage import delete_files, original_name, upload_on_disk

logger = logging.getLogger(__name__)
URL_SCHEME = "dataset://"
QUEUE = "default"
TASK = "datasets_app.tasks.process_dataset"


def dataset_url(dataset: Dataset) -> str:
    """The identifier callers pass back to name a dataset (Bisheng's ``url``): never a path or address."""
    return f"{URL_SCHEME}{dataset.uid}"


def parse_mapping(text: str | dict | None) -> dict | None:
    """A column mapping given as JSON text (forms, multipart) or already as an object."""
    if text is None or text == "":
        return None
    if isinstance(text, str):
        try:
            text = input_guard.loads(text, field="mapping")
        except input_guard.BadInput as exc:
            raise DomainError(
                f"The column mapping {exc.message}", fields={"mapping": [exc.message]}
            ) from None
    if not isinstance(text, dict):
        raise DomainError(
            "The column mapping must be a JSON object.", fields={"mapping": ["must be a JSON object"]}
        )
    return text or None


def create_dataset(
    org,
    user,
    uploaded_file,
    *,
    name: str = "",
    description: str = "",
    format: str | None = None,
    mapping: dict | None = None,
    policy: str = "drop",
    dedupe: bool = True,
    trim: bool = True,
    drop_empty: bool = True,
    max_sample_chars: int | None = None,
    text_split: str = "auto",
    tokenizer: int | None = None,
    is_preset: bool = False,
    cancelled: Callable[[], bool] | None = None,
) -> Dataset:
    """Accept one upload for ``org`` (``None``: a global preset, operators only).

    Files up to ``INLINE_INGEST_MAX_MB`` come back ``ready`` with their counts; larger ones come back
    ``uploaded`` and are processed in the background. Raises :class:`UploadRejected` (HTTP 400, with the
    engine's code, the file name and the line) when the file or the options are refused. A compressed
    file that unpacks to more than ``INLINE_INGEST_MAX_MB`` goes to the background too; an inline ingest
    stops as soon as ``cancelled()`` answers true (the client hung up), storing nothing.
    """
    raw_name = getattr(uploaded_file, "name", "") or ""
    options = {
        **DEFAULT_OPTIONS,
        "policy": policy,
        "dedupe": dedupe,
        "trim": trim,
        "drop_empty": drop_empty,
        "max_sample_chars": max_sample_chars,
        "text_split": text_split,
    }
    if mapping:
        options["mapping"] = mapping
    try:
        filename = safe_filename(raw_name)
        file_extension(filename)
        check_format(format or None)
        ColumnMapping.from_dict(mapping)
        ingest_options(options).check()
        _check_size(uploaded_file.size)
    except FileError as exc:
        raise UploadRejected(exc, shown_name(raw_name)) from None
    if tokenizer:
        options.update(_tokenizer_option(org, tokenizer))
    dataset = Dataset(
        organization=org,
        created_by=user if isinstance(user, get_user_model()) else None,
        name=(name or "").strip() or _default_name(filename),
        description=description or "",
        original_filename=filename,
        size_bytes=uploaded_file.size,
        requested_format=format or "",
        options=options,
        is_preset=is_preset,
    )
    inline_bytes = settings.INLINE_INGEST_MAX_MB * MB
    if uploaded_file.size <= inline_bytes:
        with tempfile.TemporaryDirectory(prefix="tf-upload-") as work:
            try:
                return ingest_and_store(
                    dataset,
                    upload_on_disk(uploaded_file, work),
                    work_budget_bytes=inline_bytes,
                    cancelled=cancelled,
                )
            except OverBudget:
                pass  # unpacks to more than the request should read: the worker takes it, as a large file
            except FileError as exc:
                raise UploadRejected(exc, filename) from None
    return _store_for_background(dataset, uploaded_file)


def create_datasets(org, user, uploaded_files: Sequence, **options) -> list[Dataset]:
    """Several uploads at once (Bisheng's ``files``): all are accepted, or none is kept.

    Each file is ingested outside any transaction, as a single upload is: a transaction around them all
    would hold the database's write lock for as long as the slowest ingest, and every other writer (the
    workers' events and heartbeats, API keys, other uploads) would wait for it. So a refusal undoes the
    files already accepted by deleting their rows, then their stored files.
    """
    created: list[Dataset] = []
    try:
        for uploaded_file in uploaded_files:
            created.append(create_dataset(org, user, uploaded_file, **options))
    except BaseException:
        _discard(created)
        raise
    return created


def _discard(datasets: list[Dataset]) -> None:
    """Rows first (through a short lock, too): a background job queued for one of them finds no row and
    skips it, and no row is left pointing at a deleted file."""
    ids = [d.pk for d in datasets]
    retrying(lambda: Dataset.objects.filter(pk__in=ids).delete(), what="the datasets of a refused upload")
    delete_files(name for d in datasets for name in (d.original_file.name, d.normalised_file.name))


def _check_size(size: int) -> None:
    if size == 0:
        raise FileError(EMPTY_FILE, "the file is empty")
    if size > settings.MAX_UPLOAD_MB * MB:
        raise FileError(TOO_LARGE, f"the file is {size} bytes, over the limit of {settings.MAX_UPLOAD_MB} MB")


def _default_name(filename: str) -> str:
    return filename[: -len(file_extension(filename))][:200]


def _tokenizer_option(org, base_model_id) -> dict:
    """Token counts use a base model's tokenizer: one the organization may train on, on local disk."""
    from training_app.models import BaseModel

    base = scoped(BaseModel.objects.exclude(path=""), org).filter(pk=base_model_id).first()
    if base is None:
        raise DomainError(
            "Choose a base model with a local tokenizer for token counts.",
            fields={"tokenizer": ["no such base model with a local tokenizer"]},
        )
    return {"tokenizer": base.pk, "tokenizer_name": base.name}


def _store_for_background(dataset: Dataset, uploaded_file) -> Dataset:
    dataset.status = DatasetStatus.UPLOADED
    uploaded_file.seek(0)
    stored = default_storage.save(original_name(dataset, dataset.original_filename), uploaded_file)
    try:
        dataset.original_file.name = stored
        dataset.save()
    except BaseException:
        delete_files([stored])
        raise
    transaction.on_commit(lambda: enqueue_processing(dataset))
    return dataset


def enqueue_processing(dataset: Dataset) -> None:
    """Hand a committed ``uploaded`` dataset to the workers; if Redis is down, say so on the dataset."""
    try:
        django_rq.get_queue(QUEUE).enqueue(
            TASK, dataset.pk, job_id=rq_job_id(dataset), description=f"process dataset {dataset.uid}"
        )
    except Exception as exc:  # noqa: BLE001 - the upload is committed; record why it will not proceed
        logger.exception("could not enqueue dataset %s", dataset.pk)
        Dataset.objects.filter(pk=dataset.pk, status=DatasetStatus.UPLOADED).update(
            status=DatasetStatus.FAILED,
            error_code="queue_unavailable",
            error_message=f"Could not queue the file for processing ({exc}); upload it again later.",
            updated_at=timezone.now(),
        )
        dataset.refresh_from_db(fields=["status", "error_code", "error_message", "updated_at"])


def delete_dataset(dataset: Dataset, org, *, operator: bool = False) -> None:
    """Delete a dataset and its stored files; refused while a queued or running job uses it. Finished jobs
    keep its name and version in their record (and can no longer be retried or cloned as they are).

    Only the owning organization (or an operator) may delete; a preset seen by another org is read-only.
    """
    if not operator and not dataset.writable_by(org):
        raise ReadOnlyDataset(
            f'"{dataset.name}" is a preset shared with every organization; it is read-only.'
        )
    active = sorted(
        set(dataset.job_uses.filter(job__status__in=ACTIVE_STATUSES).values_list("job__name", flat=True))
    )
    if active:
        raise Conflict(
            f'"{dataset.name}" is used by queued or running training jobs ({", ".join(active)}); '
            "cancel them or wait until they finish."
        )
    files = [dataset.original_file.name, dataset.normalised_file.name]
    with transaction.atomic():
        dataset.delete()  # finished jobs keep its name and version (hash) in their record
    transaction.on_commit(lambda: delete_files(files))


def resolve_dataset_url(org, url: str | int) -> Dataset:
    """The dataset ``url`` names, if ``org`` may see it (its own or a preset); else NotFound (404).

    Accepts ``dataset://<uid>``, a bare uid, or the numeric id.
    """
    ref = str(url).strip()
    ref = ref.removeprefix(URL_SCHEME)
    pk = as_id(ref)
    if pk is not None:
        lookup = {"pk": pk}
    else:
        try:
            lookup = {"uid": uuid.UUID(ref)}
        except ValueError:
            raise NotFound(f'No dataset "{shown_name(str(url))}".') from None
    dataset = scoped(Dataset.objects.select_related("organization"), org).filter(**lookup).first()
    if dataset is None:
        raise NotFound(f'No dataset "{shown_name(str(url))}".')
    return dataset


def preview_rows(dataset: Dataset, offset: int = 0, limit: int = 20) -> list[dict]:
    """Normalised rows ``offset`` .. ``offset + limit - 1``, streamed from storage (local or S3)."""
    if not dataset.normalised_file:
        return []
    with default_storage.open(dataset.normalised_file.name, "rb") as handle:
        lines = (line for line in handle if line.strip())
        return [json.loads(line) for line in itertools.islice(lines, offset, offset + limit)]


def sync_presets() -> list[tuple[Dataset, str]]:
    """Create or refresh the preset datasets shipped in ``datasets_app/presets`` (no organization).

    Each goes through the same ingest path as an upload; a preset whose source file has not changed is
    left alone. Returns ``(dataset, "created" | "updated" | "unchanged")`` for each.
    """
    from .ingest import list_presets, preset_path
    from .storage import sha256_of

    outcomes = []
    for meta in list_presets():
        path = preset_path(meta["slug"])
        source_sha256 = sha256_of(path)
        dataset = Dataset.objects.filter(preset_slug=meta["slug"]).first()
        if (
            dataset is not None
            and dataset.status == DatasetStatus.READY
            and dataset.options.get("source_sha256") == source_sha256
        ):
            outcomes.append((dataset, "unchanged"))
            continue
        outcome = "updated" if dataset else "created"
        dataset = dataset or Dataset(organization=None, preset_slug=meta["slug"])
        dataset.name = meta.get("title") or meta["slug"]
        dataset.description = meta.get("description", "")
        dataset.original_filename = path.name
        dataset.size_bytes = path.stat().st_size
        dataset.requested_format = meta.get("format") or ""
        language = meta.get("language") or []
        dataset.options = {
            **DEFAULT_OPTIONS,
            "source_sha256": source_sha256,
            "language": [language] if isinstance(language, str) else list(language),
        }
        dataset.is_preset = True
        ingest_and_store(dataset, path)
        outcomes.append((dataset, outcome))
    return outcomes


TRUTHY = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def filter_datasets(queryset, params) -> object:
    """The list filters shared by the API and the portal: status, kind, preset (true/false), search."""
    for name, choices in (("status", DatasetStatus.values), ("kind", DatasetKind.values)):
        value = params.get(name)
        if value:
            if value not in choices:
                raise DomainError(
                    f"{name} must be one of {', '.join(choices)}.",
                    fields={name: [f"one of {', '.join(choices)}"]},
                )
            queryset = queryset.filter(**{name: value})
    preset = params.get("preset")
    if preset:
        if preset.lower() not in TRUTHY:
            raise DomainError("preset must be true or false.", fields={"preset": ["true or false"]})
        queryset = queryset.filter(is_preset=TRUTHY[preset.lower()])
    search = (params.get("search") or "").strip()
    if search:
        queryset = queryset.filter(
            Q(name__icontains=search)
            | Q(original_filename__icontains=search)
            | Q(description__icontains=search)
        )
    return queryset


def download_response(dataset: Dataset, which: str) -> FileResponse:
    """Stream the original upload or the normalised JSON-lines file as an attachment."""
    if which not in ("original", "normalised"):
        raise DomainError(
            "which must be original or normalised.", fields={"which": ["original or normalised"]}
        )
    stored = dataset.original_file if which == "original" else dataset.normalised_file
    if not stored:
        raise Conflict(f'"{dataset.name}" has no {which} file ({dataset.status}).')
    if which == "original":
        filename = dataset.original_filename
    else:
        filename = f"{_default_name(dataset.original_filename) or 'dataset'}.normalised.jsonl"
    return FileResponse(default_storage.open(stored.name, "rb"), as_attachment=True, filename=filename)
