"""Status changes of deployments, written by the supervisor, and the job state that follows from them.

A job is ``published`` exactly while a deployment of its final output is ready: the change goes through
the one state machine (:func:`training_app.states.transition`), never around it.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from llm_platform.consumers import notify_org
from llm_platform.errors import Conflict
from serving_app.models import Deployment, DeploymentSource, DeploymentStatus
from training_app.base_models import hide_server_paths
from training_app.models import JobStatus, TrainingJob
from training_app.states import transition


def sync_job_status(job_id: int) -> None:
    """published <-> succeeded, following whether the job's own deployment is ready."""
    ready = Deployment.objects.filter(
        job_id=job_id, source=DeploymentSource.JOB, status=DeploymentStatus.READY
    ).exists()
    status = TrainingJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
    try:
        if ready and status == JobStatus.SUCCEEDED:
            transition(job_id, JobStatus.PUBLISHED, reason="deployment ready")
        elif not ready and status == JobStatus.PUBLISHED:
            transition(job_id, JobStatus.SUCCEEDED, reason="unpublished")
    except Conflict:
        pass  # changed meanwhile (deleted, or another change won): the next sync sees the truth


def _set(deployment_id: int, status: str, **fields) -> bool:
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().filter(pk=deployment_id).first()
        if deployment is None or (deployment.status == status and not fields):
            return False
        Deployment.objects.filter(pk=deployment_id).update(status=status, **fields)
        if deployment.job_id and deployment.source == DeploymentSource.JOB:
            sync_job_status(deployment.job_id)
        payload = {"type": "deployment.status", "deployment": deployment_id, "status": status}
        org_id = deployment.organization_id
        transaction.on_commit(lambda: notify_org(org_id, payload))
    return True


def mark_ready(deployment_id: int) -> bool:
    return _set(deployment_id, DeploymentStatus.READY, error="", ready_at=timezone.now())


def mark_failed(deployment_id: int, error: str) -> bool:
    """The reason is shown to the organization: engines' log lines may name model directories."""
    return _set(deployment_id, DeploymentStatus.FAILED, error=hide_server_paths(error)[-2000:])


def mark_starting(deployment_id: int, reason: str = "") -> bool:
    """Back to starting while its engine restarts; the job stays published through a short outage."""
    return (
        Deployment.objects.filter(pk=deployment_id, status=DeploymentStatus.READY).update(
            status=DeploymentStatus.STARTING, error=hide_server_paths(reason)
        )
        > 0
    )
