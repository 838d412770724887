"""A member removed through the members API loses their open live pages at once (as operators' removals do)."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from llm_platform import members
from llm_platform.consumers import CLOSE_ACCESS_REVOKED, OrganizationConsumer
from llm_platform.models import Membership

pytestmark = pytest.mark.django_db(transaction=True)


async def test_removing_a_member_closes_their_sockets(alice, bob, org_a):
    communicator = WebsocketCommunicator(OrganizationConsumer.as_asgi(), "/ws/org/")
    communicator.scope.update(user=bob, session={})
    connected, _ = await communicator.connect(timeout=10)
    assert connected

    def remove() -> None:
        owner = Membership.objects.get(user=alice, organization=org_a)
        members.remove_member(owner, Membership.objects.get(user=bob, organization=org_a))

    await sync_to_async(remove)()
    assert await communicator.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": CLOSE_ACCESS_REVOKED,
    }
