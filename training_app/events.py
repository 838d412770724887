"""Recording a job's events: one append-only row each, with a per-job monotonic ``seq``, then a push.

The sequence number comes from a conditional ``UPDATE ... SET last_seq = last_seq + 1`` on the job row
inside the same transaction as the insert, so concurrent writers (the runner, a cancel from the web)
never share a number and a reader resuming after ``seq`` misses nothing.
"""

from __future__ import annotations

import json
import logging

from django.db import transaction
from django.db.models import F

from llm_platform.db import retrying
from training_app.models import JobEvent, TrainingJob

logger = logging.getLogger(__name__)

EVENT_TYPES = ("log", "metric", "progress", "status", "checkpoint", "eval")


def job_group(job_id: int) -> str:
    return f"job.{job_id}"


def serialize_event(event: JobEvent) -> dict:
    # The payload goes first so a trainer key named "seq" or "type" can never override the real ones.
    return {
        **event.payload,
        "seq": event.seq,
        "type": event.type,
        "ts": event.created_at.isoformat(),
        **({"level": event.level} if event.level else {}),
    }


def record_event(job_id: int, type_: str, payload: dict, *, level: str = "") -> JobEvent:
    """Append one event to a job and push it to the job's websocket group once committed.

    A locked or unreachable database is waited out (``llm_platform.db.retrying``): the transaction is
    rolled back whole, so a retry takes the same ``seq`` and leaves no gap. A commit whose answer was
    lost with the connection is recognised by its ``seq`` and not written twice.
    """
    attempted: list[int] = []

    def write() -> JobEvent:
        if attempted:
            earlier = _written(job_id, attempted[-1], type_, level, payload)
            if earlier is not None:
                return earlier
        with transaction.atomic():
            TrainingJob.objects.filter(pk=job_id).update(last_seq=F("last_seq") + 1)
            seq = TrainingJob.objects.filter(pk=job_id).values_list("last_seq", flat=True).get()
            attempted.append(seq)
            event = JobEvent.objects.create(job_id=job_id, seq=seq, type=type_, level=level, payload=payload)
            transaction.on_commit(lambda: push_event(job_id, event))
        return event

    return retrying(write, what=f"a {type_} event of job {job_id}")


def _written(job_id: int, seq: int, type_: str, level: str, payload: dict) -> JobEvent | None:
    """The event an earlier attempt committed at ``seq``, if that is this very event."""
    event = JobEvent.objects.filter(job_id=job_id, seq=seq).first()
    if event is None or (event.type, event.level) != (type_, level):
        return None
    return event if event.payload == json.loads(json.dumps(payload)) else None


def push_event(job_id: int, event: JobEvent) -> None:
    """Send to live followers; a lost push is harmless (clients resume from the database by ``seq``)."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            job_group(job_id), {"type": "job.event", "event": serialize_event(event)}
        )
    except Exception:  # noqa: BLE001 - Redis down must not fail a training run; the row is the truth
        logger.warning("could not push event %s of job %s", event.seq, job_id, exc_info=True)
