"""A job's log as text, read from its event rows in batches (never the whole log in memory)."""

from __future__ import annotations

from collections.abc import Iterator

from training_app.models import JobEvent

BATCH = 2000


def format_event(event: JobEvent) -> str:
    stamp = event.created_at.strftime("%Y-%m-%d %H:%M:%S")
    payload = event.payload
    if event.type == "log":
        return f"{stamp} {event.level.upper() or 'INFO':7} {payload.get('message', '')}"
    if event.type == "status":
        return f"{stamp} STATUS  {payload.get('from')} -> {payload.get('to')} ({payload.get('reason', '')})"
    if event.type == "metric":
        parts = " ".join(f"{k}={v}" for k, v in payload.items() if v is not None and k != "extra")
        return f"{stamp} METRIC  {parts}"
    if event.type == "checkpoint":
        return f"{stamp} CKPT    step {payload.get('step')}"
    return f"{stamp} {event.type.upper():7} {payload}"


def log_lines(
    job, levels: list[str] | None = None, types=("log", "status", "metric", "checkpoint")
) -> Iterator[str]:
    events = JobEvent.objects.filter(job=job, type__in=types)
    if levels:
        events = events.filter(type="log", level__in=levels)
    last = 0
    while True:
        batch = list(events.filter(seq__gt=last).order_by("seq")[:BATCH])
        if not batch:
            return
        for event in batch:
            yield format_event(event) + "\n"
        last = batch[-1].seq
