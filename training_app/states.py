"""The one state machine of a training job.

    queued -> running -> succeeded | failed | cancelled
    queued -> cancelled;  failed | cancelled -> queued (retry);  succeeded <-> published
    queued | running -> paused (the runner stops it at its checkpoint);  paused -> queued (resume) | cancelled

Every change goes through :func:`transition`: a conditional UPDATE that only matches a job whose current
status allows the change (no locks, no lost updates), then a ``status`` event. Anything else is a
:class:`~llm_platform.errors.Conflict`, which the API answers with 409.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from llm_platform.consumers import notify_org
from llm_platform.errors import Conflict
from training_app.events import record_event
from training_app.models import JobStatus, TrainingJob

S = JobStatus
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    S.QUEUED: (S.FAILED, S.CANCELLED, S.RUNNING, S.PAUSED),  # running -> queued: requeued after a lost worker
    S.RUNNING: (S.QUEUED,),
    S.SUCCEEDED: (S.RUNNING, S.PUBLISHED),
    S.FAILED: (S.RUNNING, S.QUEUED),
    S.CANCELLED: (S.QUEUED, S.RUNNING, S.PAUSED),
    S.PUBLISHED: (S.SUCCEEDED,),
    S.PAUSED: (S.QUEUED, S.RUNNING),
}

VERBS = {
    S.QUEUED: "retry",
    S.RUNNING: "start",
    S.SUCCEEDED: "finish",
    S.FAILED: "fail",
    S.CANCELLED: "cancel",
    S.PUBLISHED: "publish",
    S.PAUSED: "pause",
}


def can_transition(current: str, target: str) -> bool:
    return current in ALLOWED_FROM.get(target, ())


def transition(
    job: TrainingJob | int, target: str, *, reason: str = "", expect: dict | None = None, **fields
) -> TrainingJob:
    """Move a job to ``target`` if its current status allows it; record a status event.

    ``fields`` are saved in the same UPDATE (for example ``error`` or ``finished_at``); ``expect`` adds
    conditions to it (a runner starts a job only for its own placement). Returns the
    refreshed job. Raises Conflict, naming both statuses, when the change is not allowed.
    """
    job_id = job if isinstance(job, int) else job.pk
    now = timezone.now()
    updates = dict(fields)
    if target == S.RUNNING:
        updates.setdefault("started_at", now)
    if target in (S.SUCCEEDED, S.FAILED, S.CANCELLED) and "finished_at" not in updates:
        updates["finished_at"] = now
    if target == S.QUEUED:
        updates.setdefault("queued_at", now)
        updates.setdefault("finished_at", None)
        updates.setdefault("placed_at", None)  # to be placed afresh by the scheduler
        updates.setdefault("rq_job_id", "")
    with transaction.atomic():
        current = (
            TrainingJob.objects.select_for_update().filter(pk=job_id).values_list("status", flat=True).first()
        )
        if current is None:
            raise Conflict("This job no longer exists.", code="not_found")
        changed = TrainingJob.objects.filter(
            pk=job_id, status__in=ALLOWED_FROM[target], **(expect or {})
        ).update(status=target, **updates)
        if not changed:
            raise Conflict(
                f"Cannot {VERBS[target]} a job that is {current}.",
                fields={"status": current},
            )
        record_event(job_id, "status", {"from": current, "to": target, "reason": reason})
        job = TrainingJob.objects.get(pk=job_id)
        job.previous_status = current
        payload = {
            "type": "job.status",
            "job": job.pk,
            "name": job.name,
            "status": target,
            "previous": current,
        }
        transaction.on_commit(lambda: notify_org(job.organization_id, payload))
    return job
