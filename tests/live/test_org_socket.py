"""/ws/org/: list pages hear their organization's job status changes and device updates, nobody else's."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from llm_platform.consumers import notify_devices
from tests.asgi import session_cookie
from tests.live.test_job_socket import TIMEOUT, socket_for
from training_app.models import JobStatus
from training_app.states import transition

pytestmark = pytest.mark.django_db(transaction=True)


async def test_anonymous_org_sockets_are_refused():
    assert await socket_for("/ws/org/").connect(timeout=TIMEOUT) == (False, 4401)


async def test_a_status_change_reaches_the_org_and_not_an_outsider(org_a, alice, charlie, make_job):
    job = await database_sync_to_async(make_job)(org_a, "pushed")
    member = socket_for("/ws/org/", await database_sync_to_async(session_cookie)(alice))
    outsider = socket_for("/ws/org/", await database_sync_to_async(session_cookie)(charlie))
    assert (await member.connect(timeout=TIMEOUT))[0] and (await outsider.connect(timeout=TIMEOUT))[0]

    await database_sync_to_async(transition)(job, JobStatus.RUNNING, reason="placed")
    assert await member.receive_json_from(timeout=TIMEOUT) == {
        "type": "job.status",
        "job": job.pk,
        "name": "pushed",
        "status": "running",
        "previous": "queued",
    }
    assert await outsider.receive_nothing(timeout=1)

    # Devices are shared: their updates reach every organization's pages (no job of another org named).
    await database_sync_to_async(notify_devices)({"type": "device.update", "device": 1, "status": "online"})
    for socket in (member, outsider):
        assert (await socket.receive_json_from(timeout=TIMEOUT))["type"] == "device.update"
    await member.disconnect(timeout=TIMEOUT)
    await outsider.disconnect(timeout=TIMEOUT)
