"""Usage per organization, model and day: requests and tokens.

The gateway adds to an in-process buffer and a background task writes it once a second, in one
transaction, so no request waits for a database write. The write runs on a thread of its own and waits
out a locked or unreachable database (``llm_platform.db.retrying``); counts it still could not write go
back into the buffer for the next flush. A web process that dies loses at most the last second of counts.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections import defaultdict
from datetime import date

from asgiref.sync import sync_to_async
from django.db import DatabaseError, IntegrityError, close_old_connections, transaction
from django.db.models import F, Sum
from django.utils import timezone

from llm_platform.db import retrying
from llm_platform.models import Organization
from serving_app.models import Deployment, Usage

logger = logging.getLogger(__name__)
FLUSH_SECONDS = 1.0


def _add(org_id, deployment_id, model, day: date, requests: int, prompt: int, completion: int) -> None:
    increments = {
        "requests": F("requests") + requests,
        "prompt_tokens": F("prompt_tokens") + prompt,
        "completion_tokens": F("completion_tokens") + completion,
        "deployment_id": deployment_id,
    }
    rows = Usage.objects.filter(organization_id=org_id, model=model, day=day)
    if rows.update(**increments):
        return
    try:
        with transaction.atomic():
            Usage.objects.create(
                organization_id=org_id,
                deployment_id=deployment_id,
                model=model,
                day=day,
                requests=requests,
                prompt_tokens=prompt,
                completion_tokens=completion,
            )
    except IntegrityError:  # another process created today's row first
        rows.update(**increments)


class UsageBuffer:
    """Counts of one process, keyed by (organization, model, day), written in the background."""

    def __init__(self):
        self.pending: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, None])
        self.task: asyncio.Task | None = None

    def add(self, org_id: int, deployment_id: int | None, model: str, prompt: int, completion: int) -> None:
        entry = self.pending[(org_id, model, timezone.localdate())]
        entry[0] += 1
        entry[1] += prompt
        entry[2] += completion
        entry[3] = deployment_id
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a stream finished outside any event loop: the next request flushes it
            return
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            # A context of its own: the request's (and its thread executor) is gone when this runs.
            self.task = loop.create_task(self._flush_soon(), context=contextvars.Context())

    async def _flush_soon(self) -> None:
        # Until nothing is left: counts added while a write was in flight (or put back) need a flush too.
        while self.pending:
            await asyncio.sleep(FLUSH_SECONDS)
            batch, self.pending = self.pending, defaultdict(lambda: [0, 0, 0, None])
            # Not on the shared sync thread: a write waiting for the database must not hold up the
            # gateway's lookups, which run there.
            if not await sync_to_async(self.write, thread_sensitive=False)(batch):
                self.put_back(batch)

    def put_back(self, batch: dict[tuple, list]) -> None:
        for key, (requests, prompt, completion, deployment_id) in batch.items():
            entry = self.pending[key]
            entry[0] += requests
            entry[1] += prompt
            entry[2] += completion
            entry[3] = entry[3] or deployment_id

    @staticmethod
    def write(batch: dict[tuple, list]) -> bool:
        """Write a batch, retried while the database is locked or away; False when that never ended."""
        try:
            retrying(functools.partial(_write, batch), what="usage counts")
        except DatabaseError:
            logger.exception("usage counts kept in memory for the next flush")
            return False
        finally:
            close_old_connections()  # no request cycle closes this thread's connection
        return True


def _write(batch: dict[tuple, list]) -> None:
    """One transaction; a deployment unpublished meanwhile keeps its counts under its name."""
    orgs = set(Organization.objects.filter(pk__in={k[0] for k in batch}).values_list("pk", flat=True))
    live = set(Deployment.objects.filter(pk__in={v[3] for v in batch.values()}).values_list("pk", flat=True))
    with transaction.atomic():
        for (org_id, model, day), (requests, prompt, completion, deployment_id) in batch.items():
            if org_id in orgs:
                deployment_id = deployment_id if deployment_id in live else None
                _add(org_id, deployment_id, model, day, requests, prompt, completion)


buffer = UsageBuffer()


def usage_totals(queryset) -> dict:
    totals = queryset.aggregate(
        requests=Sum("requests"),
        prompt_tokens=Sum("prompt_tokens"),
        completion_tokens=Sum("completion_tokens"),
    )
    return {key: value or 0 for key, value in totals.items()}
