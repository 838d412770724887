"""``/ws/jobs/<id>/``: a job's events (log, metric, progress, status, checkpoint, eval), pushed live.

On (re)connect the client passes ``?after_seq=N``, the last ``seq`` it has. The consumer joins the job's
group *before* reading the database, so an event committed during the replay is either read by the
replay or pushed to the group, never neither. Then it replays every stored event after ``N`` and forwards
live ones, dropping any ``seq`` it already sent and filling any hole from the database: no gap, no
duplicate, in ``seq`` order.

The replay runs as a task beside the consumer's receive loop, and live events that arrive meanwhile wait
in ``backlog``: a consumer busy replaying a long history would otherwise leave its channel unread, and
the channel layer drops messages past its capacity (the newest at Redis, the oldest in the process), the
newest being a job's last events, after which no later push would reveal the gap.

Another organization's job, like a missing one, is refused with close code 4404; anonymous connections
with 4401; a socket whose user leaves the organization is closed with 4403 (the page's script retries none
of those).
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from llm_platform.consumers import AccessWatchingMixin, current_org_id
from llm_platform.input_guard import BadInput, whole_number
from llm_platform.models import Organization
from llm_platform.tenancy import scoped
from training_app.events import job_group, serialize_event
from training_app.models import JobEvent, TrainingJob

REPLAY_BATCH = 500
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
logger = logging.getLogger(__name__)


@database_sync_to_async
def _job_visible(job_id: int, org_id: int | None) -> bool:
    org = Organization.objects.filter(pk=org_id).first() if org_id else None
    return scoped(TrainingJob.objects.all(), org).filter(pk=job_id).exists()


@database_sync_to_async
def _events_after(job_id: int, after_seq: int, before_seq: int | None, limit: int) -> list[dict]:
    events = JobEvent.objects.filter(job_id=job_id, seq__gt=after_seq)
    if before_seq is not None:
        # Bounded by seq, not by a count: a count would overrun into the live event if seqs had a hole.
        events = events.filter(seq__lt=before_seq)
    return [serialize_event(event) for event in events.order_by("seq")[:limit]]


def after_seq_of(scope) -> int:
    """The last seq the page has; anything unreadable (``abc``, ``²``, beyond 64 bits) replays everything."""
    values = parse_qs(scope.get("query_string", b"").decode(errors="replace")).get("after_seq", ["0"])
    try:
        return whole_number(values[0], "after_seq", minimum=0)
    except BadInput:
        return 0


class JobConsumer(AccessWatchingMixin, AsyncJsonWebsocketConsumer):
    group: str | None = None
    replay: asyncio.Task | None = None

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        org_id = await current_org_id(user, self.scope.get("session"))
        if not await _job_visible(self.job_id, org_id):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.last_seq = after_seq_of(self.scope)
        self.backlog: list[dict] | None = []
        self.group = job_group(self.job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.watch_access(user.pk, org_id)
        await self.accept()
        self.replay = asyncio.ensure_future(self._replay())

    async def disconnect(self, code):
        if self.replay is not None:
            self.replay.cancel()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.unwatch_access()

    async def job_event(self, message):
        if self.backlog is not None:
            self.backlog.append(message["event"])
            return
        await self._forward(message["event"])

    async def _replay(self) -> None:
        try:
            await self._send_stored(before_seq=None)
            while self.backlog:
                await self._forward(self.backlog.pop(0))
            # No await between the emptiness check and this line, so no live event can slip between.
            self.backlog = None
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("replay of job %s failed", self.job_id)
            await self.close(code=1011)  # the client reconnects with its last seq

    async def _forward(self, event: dict) -> None:
        if event["seq"] <= self.last_seq:
            return
        if event["seq"] > self.last_seq + 1:
            # A push was lost, dropped or overtaken by a later one: fill the hole from the database.
            await self._send_stored(before_seq=event["seq"])
        await self._send(event)

    async def _send_stored(self, before_seq: int | None) -> None:
        while True:
            batch = await _events_after(self.job_id, self.last_seq, before_seq, REPLAY_BATCH)
            for event in batch:
                await self._send(event)
            if len(batch) < REPLAY_BATCH:
                return

    async def _send(self, event: dict) -> None:
        await self.send_json(event)
        self.last_seq = event["seq"]
