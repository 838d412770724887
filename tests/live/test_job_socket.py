"""/ws/jobs/<id>/ through the real ASGI application (session auth, origin check) and the Redis layer."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from llm_platform.asgi import application
from tests.asgi import session_cookie
from training_app.events import push_event, record_event
from training_app.models import JobEvent, TrainingJob

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 10  # seconds a message may take on a busy shared CPU; not a speed assertion


def socket_for(path: str, cookie: str | None = None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://127.0.0.1")]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


def store_events(job: TrainingJob, count: int) -> None:
    """``count`` stored log events (as if recorded earlier, with nobody listening)."""
    start = job.last_seq
    JobEvent.objects.bulk_create(
        JobEvent(job=job, seq=start + i, type="log", level="info", payload={"message": f"line {start + i}"})
        for i in range(1, count + 1)
    )
    TrainingJob.objects.filter(pk=job.pk).update(last_seq=start + count)
    job.refresh_from_db()


async def receive_seqs(socket: WebsocketCommunicator, count: int) -> list[int]:
    return [(await socket.receive_json_from(timeout=TIMEOUT))["seq"] for _ in range(count)]


@pytest.fixture
def job(org_a, make_job):
    return make_job(org_a, "watched")


@pytest.fixture
def alice_cookie(alice):
    return session_cookie(alice)


async def test_anonymous_connections_are_refused(job):
    socket = socket_for(f"/ws/jobs/{job.pk}/")
    connected, code = await socket.connect(timeout=TIMEOUT)
    assert (connected, code) == (False, 4401)


async def test_an_outsider_is_refused_like_a_missing_job(job, charlie, alice_cookie):
    outsider = socket_for(f"/ws/jobs/{job.pk}/", await database_sync_to_async(session_cookie)(charlie))
    assert await outsider.connect(timeout=TIMEOUT) == (False, 4404)
    missing = socket_for(f"/ws/jobs/{job.pk + 1000}/", alice_cookie)
    assert await missing.connect(timeout=TIMEOUT) == (False, 4404)


async def test_a_viewer_may_follow(job, vera):
    socket = socket_for(f"/ws/jobs/{job.pk}/", await database_sync_to_async(session_cookie)(vera))
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert connected
    await database_sync_to_async(record_event)(job.pk, "log", {"message": "hello"}, level="info")
    assert (await socket.receive_json_from(timeout=TIMEOUT))["message"] == "hello"
    await socket.disconnect(timeout=TIMEOUT)


async def test_resume_after_seq_gets_exactly_the_rest_then_live_events_once(job, alice_cookie):
    await database_sync_to_async(store_events)(job, 10)
    socket = socket_for(f"/ws/jobs/{job.pk}/?after_seq=4", alice_cookie)
    assert (await socket.connect(timeout=TIMEOUT))[0]
    replayed = [await socket.receive_json_from(timeout=TIMEOUT) for _ in range(6)]
    assert [e["seq"] for e in replayed] == [5, 6, 7, 8, 9, 10]
    assert replayed[0] == {
        "seq": 5,
        "type": "log",
        "level": "info",
        "message": "line 5",
        "ts": replayed[0]["ts"],
    }

    # Every typed event the runner records arrives live, in order, once.
    record = database_sync_to_async(record_event)
    await record(job.pk, "metric", {"step": 1, "loss": 2.5, "eval_loss": None, "learning_rate": 1e-4})
    await record(job.pk, "progress", {"step": 1, "total_steps": 10, "eta_seconds": 9.0})
    await record(job.pk, "checkpoint", {"step": 1, "path": "checkpoint-1"})
    await record(job.pk, "eval", {"report": {"eval_loss": 2.0}})
    await record(job.pk, "status", {"from": "running", "to": "succeeded", "reason": "finished"})
    live = [await socket.receive_json_from(timeout=TIMEOUT) for _ in range(5)]
    assert [(e["seq"], e["type"]) for e in live] == [
        (11, "metric"),
        (12, "progress"),
        (13, "checkpoint"),
        (14, "eval"),
        (15, "status"),
    ]
    assert live[0]["loss"] == 2.5 and live[1]["total_steps"] == 10 and live[4]["to"] == "succeeded"

    # A late or repeated push of an event already sent is dropped.
    event = await database_sync_to_async(JobEvent.objects.get)(job=job, seq=11)
    await database_sync_to_async(push_event)(job.pk, event)
    assert await socket.receive_nothing(timeout=1)
    await socket.disconnect(timeout=TIMEOUT)


async def test_live_events_arriving_during_the_replay_are_sent_once_in_order(job, alice_cookie):
    # A replay long enough (three database batches) that the pushes below land while it runs.
    await database_sync_to_async(store_events)(job, 1200)
    socket = socket_for(f"/ws/jobs/{job.pk}/?after_seq=0", alice_cookie)
    assert (await socket.connect(timeout=TIMEOUT))[0]
    # An event committed after the consumer joined the group but before its replay read it is both
    # replayed and pushed: pushes of replayed events must not show twice, new ones must follow.
    for seq in (3, 700, 1200):
        await database_sync_to_async(push_event)(
            job.pk, await database_sync_to_async(JobEvent.objects.get)(job=job, seq=seq)
        )
    await database_sync_to_async(record_event)(job.pk, "log", {"message": "live"}, level="warning")
    assert await receive_seqs(socket, 1201) == list(range(1, 1202))
    assert await socket.receive_nothing(timeout=1)
    await socket.disconnect(timeout=TIMEOUT)


async def test_a_hole_in_the_live_stream_is_filled_from_the_database(job, alice_cookie):
    await database_sync_to_async(store_events)(job, 3)
    socket = socket_for(f"/ws/jobs/{job.pk}/?after_seq=2", alice_cookie)
    assert (await socket.connect(timeout=TIMEOUT))[0]
    assert await receive_seqs(socket, 1) == [3]  # the replay has read the database: it is over
    # Events 4 and 5 are stored but their pushes are lost (Redis blip); event 6 arrives live.
    await database_sync_to_async(store_events)(job, 2)
    await database_sync_to_async(record_event)(job.pk, "log", {"message": "after the hole"}, level="info")
    received = [await socket.receive_json_from(timeout=TIMEOUT) for _ in range(3)]
    assert [e["seq"] for e in received] == [4, 5, 6]
    assert received[-1]["message"] == "after the hole"
    assert await socket.receive_nothing(timeout=1)
    await socket.disconnect(timeout=TIMEOUT)


@pytest.mark.parametrize("after_seq", ["abc", "%C2%B2", str(2**70), "7" * 5000])  # %C2%B2: "²"
async def test_an_unreadable_after_seq_replays_everything(job, alice_cookie, after_seq):
    await database_sync_to_async(store_events)(job, 2)
    socket = socket_for(f"/ws/jobs/{job.pk}/?after_seq={after_seq}", alice_cookie)
    assert (await socket.connect(timeout=TIMEOUT))[0]
    assert await receive_seqs(socket, 2) == [1, 2]
    await socket.disconnect(timeout=TIMEOUT)


async def test_a_writer_racing_the_replay_loses_and_repeats_nothing(job, alice_cookie):
    # The runner is another process: while a reconnecting page replays, it keeps committing. Each of
    # those events is read by the replay, pushed live, or both; the page gets each exactly once.
    await database_sync_to_async(store_events)(job, 1500)
    socket = socket_for(f"/ws/jobs/{job.pk}/?after_seq=0", alice_cookie)
    assert (await socket.connect(timeout=TIMEOUT))[0]

    def runner():
        try:
            for i in range(150):
                record_event(job.pk, "metric", {"step": i, "loss": 1.0}, level="")
        finally:
            connections.close_all()  # this thread's own connection, or the test database stays in use

    await asyncio.to_thread(runner)
    assert await receive_seqs(socket, 1650) == list(range(1, 1651))
    assert await socket.receive_nothing(timeout=1)
    await socket.disconnect(timeout=TIMEOUT)


async def test_leaving_the_organization_closes_its_open_sockets(job, alice, bob, charlie, org_a):
    from llm_platform.models import Membership

    watching = socket_for(f"/ws/jobs/{job.pk}/", await database_sync_to_async(session_cookie)(bob))
    listing = socket_for("/ws/org/", await database_sync_to_async(session_cookie)(bob))
    colleague = socket_for(f"/ws/jobs/{job.pk}/", await database_sync_to_async(session_cookie)(alice))
    outsider = socket_for("/ws/org/", await database_sync_to_async(session_cookie)(charlie))
    for socket in (watching, listing, colleague, outsider):
        assert (await socket.connect(timeout=TIMEOUT))[0]

    await database_sync_to_async(Membership.objects.filter(user=bob, organization=org_a).delete)()
    for socket in (watching, listing):
        assert await socket.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4403}
    # The others stay open and keep receiving.
    assert await colleague.receive_nothing(timeout=0.5) and await outsider.receive_nothing(timeout=0.1)
    await database_sync_to_async(record_event)(job.pk, "log", {"message": "still here"})
    assert (await colleague.receive_json_from(timeout=TIMEOUT))["message"] == "still here"
    for socket in (colleague, outsider):
        await socket.disconnect()


async def test_a_deactivated_user_loses_their_open_sockets(job, alice):
    socket = socket_for(f"/ws/jobs/{job.pk}/", await database_sync_to_async(session_cookie)(alice))
    assert (await socket.connect(timeout=TIMEOUT))[0]
    alice.is_active = False
    await database_sync_to_async(alice.save)()
    assert await socket.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4403}
