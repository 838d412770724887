"""The org-wide websocket: list pages follow status changes of their organization without reloading.

Every portal websocket acts for one user in one organization. It also joins that pair's *access group*,
so removing the membership (or deactivating the user) closes its open sockets at once with code 4403:
a removed member stops seeing the organization's live events without waiting for a reload.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer

from llm_platform.tenancy import SESSION_KEY, chosen_membership

DEVICES_GROUP = "devices"
CLOSE_ACCESS_REVOKED = 4403
logger = logging.getLogger(__name__)


def org_group(org_id: int) -> str:
    return f"org.{org_id}"


def access_group(user_id: int, org_id: int) -> str:
    return f"access.{user_id}.{org_id}"


class AccessWatchingMixin:
    """For consumers acting for ``(user, organization)``: closed when that access ends."""

    access: str | None = None

    async def watch_access(self, user_id: int, org_id: int) -> None:
        self.access = access_group(user_id, org_id)
        await self.channel_layer.group_add(self.access, self.channel_name)

    async def unwatch_access(self) -> None:
        if self.access:
            await self.channel_layer.group_discard(self.access, self.channel_name)

    async def access_revoked(self, message):
        await self.close(code=CLOSE_ACCESS_REVOKED)


def revoke_access(user_id: int, org_id: int) -> None:
    """Close every open websocket of ``user_id`` in ``org_id`` (best effort, logged on Redis trouble)."""
    try:
        async_to_sync(get_channel_layer().group_send)(
            access_group(user_id, org_id), {"type": "access.revoked"}
        )
    except Exception:  # noqa: BLE001
        logger.warning("could not close the websockets of user %s in organization %s", user_id, org_id)


@database_sync_to_async
def current_org_id(user, session) -> int | None:
    """The organization a websocket acts for: the same choice as the portal's (llm_platform.tenancy)."""
    membership = chosen_membership(user, session.get(SESSION_KEY) if session is not None else None)
    return membership.organization_id if membership else None


class OrganizationConsumer(AccessWatchingMixin, AsyncJsonWebsocketConsumer):
    """Anonymous connections and users without an organization are refused."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.org_id = await current_org_id(user, self.scope.get("session"))
        if self.org_id is None:
            await self.close(code=4404)
            return
        self.group = org_group(self.org_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_add(DEVICES_GROUP, self.channel_name)
        await self.watch_access(user.pk, self.org_id)
        await self.accept()

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.channel_layer.group_discard(DEVICES_GROUP, self.channel_name)
        await self.unwatch_access()

    async def org_event(self, message):
        await self.send_json(message["payload"])


def notify_org(org_id: int, payload: dict) -> None:
    """Push a typed payload (``{"type": "job.status", ...}``) to every open page of one organization.

    Best effort: the database has the truth, pages catch up on reload, so Redis trouble is only logged.
    """
    try:
        async_to_sync(get_channel_layer().group_send)(
            org_group(org_id), {"type": "org.event", "payload": payload}
        )
    except Exception:  # noqa: BLE001
        logger.warning("could not notify organization %s", org_id, exc_info=True)


def notify_devices(payload: dict) -> None:
    """Device changes go to every organization's pages (devices are shared; jobs on them are not named)."""
    try:
        async_to_sync(get_channel_layer().group_send)(
            DEVICES_GROUP, {"type": "org.event", "payload": payload}
        )
    except Exception:  # noqa: BLE001
        logger.warning("could not push a device update", exc_info=True)
