import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from llm_platform.asgi import application
from llm_platform.consumers import OrganizationConsumer, notify_org

pytestmark = pytest.mark.django_db(transaction=True)


async def connect(user):
    communicator = WebsocketCommunicator(OrganizationConsumer.as_asgi(), "/ws/org/")
    communicator.scope["user"] = user
    communicator.scope["session"] = {}
    connected, code = await communicator.connect(timeout=10)
    return communicator, connected, code


async def test_anonymous_websocket_is_refused():
    communicator, connected, code = await connect(AnonymousUser())
    assert not connected and code == 4401


async def test_the_asgi_router_refuses_anonymous_websockets():
    communicator = WebsocketCommunicator(application, "/ws/org/", headers=[(b"origin", b"http://127.0.0.1")])
    connected, _code = await communicator.connect(timeout=10)
    assert not connected


async def test_org_events_reach_members_and_not_outsiders(alice, charlie, org_a):
    member, connected, _ = await connect(alice)
    assert connected
    outsider, connected, _ = await connect(charlie)
    assert connected
    from asgiref.sync import sync_to_async

    await sync_to_async(notify_org)(org_a.id, {"type": "job.status", "job": 1, "status": "running"})
    assert await member.receive_json_from(timeout=5) == {"type": "job.status", "job": 1, "status": "running"}
    assert await outsider.receive_nothing(timeout=0.5)
    await member.disconnect()
    await outsider.disconnect()
