"""Actions on a finished job's outputs: merge a LoRA adapter into full weights, and register the result
(or a full/freeze fine-tune) as a base model for further jobs. Heavy work runs on the RQ "default" queue."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import django_rq
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from llm_platform.audit import record
from llm_platform.errors import Conflict, DomainError
from training_app.artifacts import upload_directory
from training_app.base_models import hide_server_paths, register_base_model
from training_app.events import record_event
from training_app.models import BaseModel, JobStatus, TrainingJob

FINISHED = (JobStatus.SUCCEEDED, JobStatus.PUBLISHED)
ADAPTER_METHODS = ("lora", "qlora")


def download_outputs(job: TrainingJob, target: Path, *, merged: bool = False) -> Path:
    """Copy the job's stored outputs (or its merged export) to a local directory."""
    files = (job.artifacts or {}).get("merged_files" if merged else "files", [])
    if not files:
        raise Conflict("This job has no stored outputs to use.")
    target.mkdir(parents=True, exist_ok=True)
    for item in files:
        destination = target / item["path"]
        destination.parent.mkdir(parents=True, exist_ok=True)
        with default_storage.open(item["name"], "rb") as source, destination.open("wb") as out:
            shutil.copyfileobj(source, out)
    return target


def request_merge(job: TrainingJob) -> None:
    """Queue the merge-and-export of a LoRA job (refused for other methods or unfinished jobs)."""
    if job.status not in FINISHED:
        raise Conflict(f"Only a finished job can be exported; this one is {job.status}.")
    if job.method not in ADAPTER_METHODS:
        raise Conflict("This job already produced full weights: there is no adapter to merge.")
    record_event(job.pk, "log", {"message": "Merge-and-export of the adapter queued."}, level="info")
    record(job.organization, "job.export", job, summary="merge-and-export of the adapter queued")
    transaction.on_commit(
        lambda: django_rq.get_queue("default").enqueue(merge_job, job.pk, job_timeout=6 * 3600)
    )


def merge_job(job_id: int) -> str:
    """RQ task: base + adapter -> full weights, stored beside the adapter under ``merged/``."""
    from training_app.trainer.export import merge_adapter

    job = TrainingJob.objects.select_related("base_model").get(pk=job_id)
    with tempfile.TemporaryDirectory(
        dir=settings.WORK_DIR if Path(settings.WORK_DIR).exists() else None
    ) as tmp:
        adapter = download_outputs(job, Path(tmp) / "adapter")
        try:
            merged = merge_adapter(
                adapter,
                Path(tmp) / "merged",
                base_model_path=job.base_model.path or job.base_model.hub_id,
                trust_remote_code=job.base_model.trust_remote_code,
            )
        except Exception as exc:  # noqa: BLE001 - reported to the user on the job's log
            problem = hide_server_paths(str(exc), job.base_model)
            record_event(job.pk, "log", {"message": f"Merge-and-export failed: {problem}"}, level="error")
            raise
        files = upload_directory(merged, f"{job.artifacts_prefix}/merged")
    artifacts = dict(job.artifacts or {})
    artifacts["merged_files"] = files
    TrainingJob.objects.filter(pk=job.pk).update(artifacts=artifacts)
    record_event(
        job.pk, "log", {"message": f"Merged full weights exported ({len(files)} files)."}, level="info"
    )
    return "merged"


def register_as_base_model(job: TrainingJob, name: str) -> BaseModel:
    """Make a finished job's full weights (a full/freeze fine-tune, or a merged LoRA) a base model of its
    organization. The weights are copied under the first model root, so the MODEL_ROOTS rule holds."""
    if job.status not in FINISHED:
        raise Conflict(f"Only a finished job can become a base model; this one is {job.status}.")
    merged = job.method in ADAPTER_METHODS
    if merged and not (job.artifacts or {}).get("merged_files"):
        raise Conflict("Export the merged weights first: a LoRA adapter alone is not a base model.")
    if not name or BaseModel.objects.filter(name=name).exists():
        raise DomainError("Choose another name.", fields={"name": "required and unique across base models"})
    target = Path(settings.MODEL_ROOTS[0]) / "tuned" / str(job.organization_id) / str(job.uid)
    download_outputs(job, target, merged=merged)
    root = job.base_model.root_base or job.base_model
    try:
        model = register_base_model(
            name,
            path=str(target),
            organization=job.organization,
            source_job=job,
            root_base=root,
            enabled_for_all=False,
            trust_remote_code=job.base_model.trust_remote_code,
            chat_template_source=job.base_model.chat_template_source,
            chat_template_name=job.base_model.chat_template_name,
            chat_template=job.base_model.chat_template,
        )
    except DomainError as exc:  # loader errors name the directory: the user sees the model's name
        raise DomainError(
            hide_server_paths(exc.message),
            fields={key: hide_server_paths(str(value)) for key, value in (exc.fields or {}).items()},
        ) from exc
    record(job.organization, "job.register_base", job, summary=f"registered as base model {name}")
    return model
