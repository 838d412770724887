"""``/ws/jobs/<id>/``: a job's events, pushed the moment the runner records them.

On (re)connect the client passes ``?after_seq=N`` (the last ``seq`` it has). The consumer joins the job's
group first, then replays every stored event after ``N`` from the database, then forwards live events,
dropping any whose ``seq`` it already sent: no gap, no duplicate. Another organization's job, like a
missing one, is refused (close code 4404); anonymous connections get 4401.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from llm_platform.consumers import current_org_id
from llm_platform.models import Organization
from llm_platform.tenancy import scoped
from training_app.events import job_group, serialize_event
from training_app.models import JobEvent, TrainingJob

REPLAY_BATCH = 500


@database_sync_to_async
def _job_visible(job_id: int, org_id: int | None) -> bool:
    org = Organization.objects.filter(pk=org_id).first() if org_id else None
    return scoped(TrainingJob.objects.all(), org).filter(pk=job_id).exists()


@database_sync_to_async
def _events_after(job_id: int, after_seq: int, limit: int) -> list[dict]:
    events = JobEvent.objects.filter(job_id=job_id, seq__gt=after_seq).order_by("seq")[:limit]
    return [serialize_event(event) for event in events]


class JobConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        org_id = await current_org_id(user, self.scope.get("session"))
        if not await _job_visible(self.job_id, org_id):
            await self.close(code=4404)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        after = query.get("after_seq", ["0"])[0]
        self.last_seq = int(after) if after.isdigit() else 0
        self.group = job_group(self.job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        while True:
            batch = await _events_after(self.job_id, self.last_seq, REPLAY_BATCH)
            for event in batch:
                await self.send_json(event)
                self.last_seq = event["seq"]
            if len(batch) < REPLAY_BATCH:
                break

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def job_event(self, message):
        event = message["event"]
        if event["seq"] <= self.last_seq:
            return
        if event["seq"] > self.last_seq + 1:
            # A push was lost or overtaken: fill the gap from the database, in order.
            for missed in await _events_after(self.job_id, self.last_seq, event["seq"] - self.last_seq - 1):
                await self.send_json(missed)
                self.last_seq = missed["seq"]
        await self.send_json(event)
        self.last_seq = event["seq"]
