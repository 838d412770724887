"""A fine-tuned model is callable as soon as its job succeeds: the first request for its ``ft:`` name
publishes it (an ordinary Deployment the organization sees, renames or unpublishes in the portal), and the
supervisor loads the adapter into its base model's engine; the gateway waits for it to be ready."""

from __future__ import annotations

import re

from django.db import IntegrityError

from llm_platform.errors import Conflict
from serving_app.models import Deployment, DeploymentSource
from serving_app.openai_ft import ids
from serving_app.openai_ft.objects import kept_checkpoints
from serving_app.services.publish import publish
from training_app.models import JobStatus, TrainingJob

SUCCEEDED = (JobStatus.SUCCEEDED, JobStatus.PUBLISHED)


def job_of_model(org_id: int, name: str) -> tuple[TrainingJob, int | None] | None:
    """The org's succeeded job (and checkpoint step) a ``ft:`` name names exactly, or None."""
    parsed = ids.parse_model(name)
    if parsed is None:
        return None
    short, step = parsed
    # UUIDs are 32 hex digits on SQLite and hyphenated text on PostgreSQL: the first eight are the same.
    for job in TrainingJob.objects.filter(
        organization_id=org_id, status__in=SUCCEEDED, uid__startswith=short
    ).select_related("base_model", "organization"):
        wanted = ids.checkpoint_model(job, step) if step is not None else ids.fine_tuned_model(job)
        if wanted == name:
            return job, step
    return None


def deployment_name(job: TrainingJob, step: int | None) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", f"ft-{job.uid.hex[: ids.SHORT_ID]}")
    return base if step is None else f"{base}-step{step}"


def ensure_deployment(org_id: int, name: str) -> Deployment | None:
    """The deployment serving ``name`` (created now if the job has none), or None if no such model.
    Raises DomainError, saying why, when the model exists but cannot be served (a checkpoint no longer
    on disk, say)."""
    found = job_of_model(org_id, name)
    if found is None:
        return None
    job, step = found
    source = DeploymentSource.JOB if step is None else DeploymentSource.CHECKPOINT
    existing = Deployment.objects.filter(job=job, source=source, checkpoint_step=step).first()
    if existing is not None:
        return existing
    try:
        return publish(job.organization, name=deployment_name(job, step), job=job, checkpoint_step=step)
    except (IntegrityError, Conflict):  # published by a concurrent request meanwhile
        found = Deployment.objects.filter(job=job, source=source, checkpoint_step=step).first()
        if found is None:
            raise
        return found


def served_names(org) -> list[tuple[str, object]]:
    """(``ft:`` name, created) of each succeeded API job of ``org`` and its checkpoints, for /v1/models."""
    out = []
    jobs = TrainingJob.objects.filter(organization=org, status__in=SUCCEEDED).exclude(api_options={})
    for job in jobs.select_related("base_model", "organization"):
        out.append((ids.fine_tuned_model(job), job.finished_at or job.created_at))
        for step in kept_checkpoints(job):
            out.append((ids.checkpoint_model(job, step), job.finished_at or job.created_at))
    return out
