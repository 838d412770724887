"""The audit log's one writer: services call :func:`record` after each state-changing action.

The entry is written in the caller's transaction, so an action rolled back leaves no entry. The actor and
client address come from :func:`llm_platform.actor.current_actor` unless the caller passes an actor.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db.models import Model, QuerySet

from llm_platform import input_guard
from llm_platform.actor import Actor, current_actor
from llm_platform.models import ApiKey, AuditEntry, Organization

CSV_COLUMNS = ["time", "actor", "action", "object_type", "object_id", "object", "summary", "client_address"]


def _object_type(obj) -> str:
    return obj._meta.model_name if isinstance(obj, Model) else type(obj).__name__.lower()


def record(
    organization: Organization | None,
    action: str,
    obj=None,
    *,
    summary: str = "",
    object_type: str | None = None,
    actor: Actor | None = None,
) -> AuditEntry:
    """Record ``action`` (``"<object type>.<verb>"``, e.g. ``"job.cancel"``) on ``obj`` for ``organization``."""
    actor = actor or current_actor()
    user = actor.user if isinstance(actor.user, get_user_model()) else None
    api_key = actor.api_key if isinstance(actor.api_key, ApiKey) else None
    return AuditEntry.objects.create(
        organization=organization,
        actor_user=user,
        actor_api_key=api_key,
        actor=actor.name[:160],
        action=action[:60],
        object_type=(object_type or (_object_type(obj) if obj is not None else action.split(".")[0]))[:60],
        object_id=str(getattr(obj, "pk", "") or "")[:64],
        object_repr=str(obj)[:200] if obj is not None else "",
        summary=summary[:500],
        client_address=actor.client_address,
    )


def changes(before: dict, after: dict) -> str:
    """A short summary of what changed: ``role: member -> admin``."""
    return "; ".join(f"{k}: {before.get(k)} -> {after[k]}" for k in after if before.get(k) != after[k])


def filter_entries(queryset: QuerySet, params) -> QuerySet:
    """The log filters shared by the portal page, the API and the CSV export (``input_guard`` reads them)."""
    actor = (params.get("actor") or "").strip()
    if actor:
        queryset = queryset.filter(actor__icontains=actor)
    for field in ("object_type", "action"):
        value = (params.get(field) or "").strip()
        if value:
            queryset = queryset.filter(**{field: value})
    since = input_guard.optional_datetime(params.get("since"), "since")
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    until = input_guard.optional_datetime(params.get("until"), "until")
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    return queryset


def csv_rows(entries: Iterable[AuditEntry]) -> Iterable[str]:
    """The CSV export, one line at a time (streamed: a long log is never held in memory)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(CSV_COLUMNS)
    for e in entries:
        yield line(
            [
                e.created_at.isoformat(),
                e.actor,
                e.action,
                e.object_type,
                e.object_id,
                e.object_repr,
                e.summary,
                e.client_address or "",
            ]
        )
