"""Platform objects in the shapes the ``openai`` client reads: files, jobs, events, checkpoints, metrics."""

from __future__ import annotations

import csv
import io

from django.utils import timezone

from datasets_app.models import Dataset, DatasetStatus
from serving_app.openai_ft import ids
from training_app.models import JobEvent, JobStatus, TrainingJob
from training_app.trainer.spec import SAVE_TOTAL_LIMIT

FILE_STATUS = {
    DatasetStatus.UPLOADED: "uploaded",
    DatasetStatus.PROCESSING: "uploaded",
    DatasetStatus.READY: "processed",
    DatasetStatus.FAILED: "error",
}
JOB_STATUS = {JobStatus.PUBLISHED: "succeeded"}  # published is succeeded and already loaded
METRIC_COLUMNS = ("step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy")


def timestamp(moment) -> int | None:
    return int(moment.timestamp()) if moment else None


def file_object(dataset: Dataset) -> dict:
    status = FILE_STATUS[dataset.status]
    details = None
    if status == "error":
        details = (
            f"{dataset.error_code}: {dataset.error_message}" if dataset.error_code else dataset.error_message
        )
    return {
        "id": ids.file_id(dataset),
        "object": "file",
        "bytes": dataset.size_bytes,
        "created_at": timestamp(dataset.created_at),
        "filename": dataset.original_filename,
        "purpose": "fine-tune",
        "status": status,
        "status_details": details,
        "expires_at": None,
    }


def result_file_object(job: TrainingJob) -> dict:
    return {
        "id": ids.file_id(job),
        "object": "file",
        "bytes": len(metrics_csv(job).encode()),
        "created_at": timestamp(job.finished_at or job.created_at),
        "filename": "step_metrics.csv",
        "purpose": "fine-tune-results",
        "status": "processed",
        "status_details": None,
        "expires_at": None,
    }


def _succeeded(job: TrainingJob) -> bool:
    return job.status in (JobStatus.SUCCEEDED, JobStatus.PUBLISHED)


def _error(job: TrainingJob) -> dict | None:
    if job.status != JobStatus.FAILED:
        return None
    return {"code": "training_failed", "message": job.error or "The job failed.", "param": None}


def _estimated_finish(job: TrainingJob) -> int | None:
    """From the pace so far: steps left at the average time per step since the run started."""
    if job.status != JobStatus.RUNNING or not job.started_at or not job.current_step or not job.total_steps:
        return None
    elapsed = (timezone.now() - job.started_at).total_seconds()
    left = elapsed / job.current_step * max(job.total_steps - job.current_step, 0)
    return int(timezone.now().timestamp() + left)


def _trained_tokens(job: TrainingJob) -> int | None:
    """Non-padding tokens the trainer saw, as its newest metric event counted them."""
    newest = (
        JobEvent.objects.filter(job=job, type="metric", payload__tokens_seen__isnull=False)
        .order_by("-seq")
        .values_list("payload__tokens_seen", flat=True)
        .first()
    )
    return int(newest) if newest else None


def job_object(job: TrainingJob) -> dict:
    options = job.api_options or {}
    kind = options.get("method", "dpo" if job.stage == "dpo" else "supervised")
    hp = dict(options.get("hyperparameters") or {})
    method_hp = {k: v for k, v in hp.items() if kind == "dpo" or k != "beta"}
    plain_hp = {k: v for k, v in hp.items() if k != "beta"}
    return {
        "id": ids.job_id(job),
        "object": "fine_tuning.job",
        "created_at": timestamp(job.created_at),
        "finished_at": timestamp(job.finished_at)
        if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING)
        else None,
        "model": job.base_model.name,
        "organization_id": job.organization.slug,
        "status": JOB_STATUS.get(job.status, job.status),
        "fine_tuned_model": ids.fine_tuned_model(job) if _succeeded(job) else None,
        "trained_tokens": _trained_tokens(job) if _succeeded(job) else None,
        "estimated_finish": _estimated_finish(job),
        "training_file": options.get("training_file"),
        "validation_file": None,
        "result_files": [ids.file_id(job)] if _succeeded(job) else [],
        "hyperparameters": plain_hp,
        "method": {"type": kind, kind: {"hyperparameters": method_hp}},
        "metadata": options.get("metadata") or None,
        "seed": job.seed,
        "error": _error(job),
        "integrations": None,
        "user_provided_suffix": options.get("suffix") or None,
    }


def event_object(job: TrainingJob, event: JobEvent) -> dict:
    payload = event.payload or {}
    data, kind = None, "message"
    if event.type == "metric":
        kind = "metrics"
        data = {
            "step": payload.get("step"),
            "train_loss": payload.get("loss"),
            "valid_loss": payload.get("eval_loss"),
        }
        message = f"Step {payload.get('step')}: training loss={payload.get('loss')}"
    elif event.type == "status":
        message = f"Job {JOB_STATUS.get(payload.get('to'), payload.get('to'))}" + (
            f": {payload['reason']}" if payload.get("reason") else ""
        )
    elif event.type == "checkpoint":
        message = f"Checkpoint created at step {payload.get('step')}"
    elif event.type == "progress":
        message = f"Step {payload.get('step')}/{payload.get('total_steps')}"
    elif event.type == "eval":
        message = "Evaluation finished"
        data = payload.get("report")
    else:
        message = str(payload.get("message", ""))
    level = event.level if event.level in ("info", "warn", "error") else "info"
    if event.level == "warning":
        level = "warn"
    return {
        "id": ids.event_id(job, event.seq),
        "object": "fine_tuning.job.event",
        "created_at": timestamp(event.created_at),
        "level": level,
        "message": message,
        "data": data,
        "type": kind,
    }


def _metrics(job: TrainingJob) -> list[dict]:
    rows = JobEvent.objects.filter(job=job, type="metric").order_by("seq").values_list("payload", flat=True)
    return [row for row in rows if isinstance(row, dict)]


def kept_checkpoints(job: TrainingJob) -> list[int]:
    """The steps of the checkpoints a run keeps: its newest SAVE_TOTAL_LIMIT."""
    steps = JobEvent.objects.filter(job=job, type="checkpoint").values_list("payload__step", flat=True)
    return sorted({int(s) for s in steps if s}, reverse=True)[:SAVE_TOTAL_LIMIT]


def checkpoint_objects(job: TrainingJob) -> list[dict]:
    """The checkpoints a run keeps (its newest SAVE_TOTAL_LIMIT, as OpenAI keeps the last three epochs'),
    newest first, each with the losses logged at or before its step."""
    metrics = _metrics(job)
    events = JobEvent.objects.filter(job=job, type="checkpoint").order_by("-seq")
    seen, out = set(), []
    for event in events:
        step = int((event.payload or {}).get("step") or 0)
        if not step or step in seen or len(seen) == SAVE_TOTAL_LIMIT:
            continue
        seen.add(step)
        train = [m for m in metrics if m.get("loss") is not None and int(m.get("step") or 0) <= step]
        valid = [m for m in metrics if m.get("eval_loss") is not None and int(m.get("step") or 0) <= step]
        out.append(
            {
                "id": ids.checkpoint_id(job, step),
                "object": "fine_tuning.job.checkpoint",
                "created_at": timestamp(event.created_at),
                "fine_tuned_model_checkpoint": ids.checkpoint_model(job, step),
                "fine_tuning_job_id": ids.job_id(job),
                "step_number": step,
                "metrics": {
                    "step": step,
                    "train_loss": train[-1]["loss"] if train else None,
                    "valid_loss": valid[-1]["eval_loss"] if valid else None,
                    "full_valid_loss": valid[-1]["eval_loss"] if valid else None,
                },
            }
        )
    return out


def metrics_csv(job: TrainingJob) -> str:
    """OpenAI's step_metrics.csv: one row per logged step."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(METRIC_COLUMNS)
    for metric in _metrics(job):
        if metric.get("loss") is None and metric.get("eval_loss") is None:
            continue
        writer.writerow(
            [
                metric.get("step"),
                metric.get("loss", ""),
                metric.get("mean_token_accuracy", ""),
                metric.get("eval_loss", ""),
                metric.get("eval_mean_token_accuracy", ""),
            ]
        )
    return out.getvalue()
