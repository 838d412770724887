"""The channel layer that carries every websocket push, against the real Redis."""

from __future__ import annotations

import asyncio

from channels.layers import get_channel_layer


async def test_a_socket_idle_past_the_blocking_wait_still_receives(redis_server):
    """channels_redis waits with a 5 s BZPOPMIN; redis-py 8 timed the reply out at 5 s by default, so every
    idle socket lost its connection (pages dropped /ws/org/ every few seconds and missed events meanwhile)."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("idle-probe", channel)

    async def push_later():
        await asyncio.sleep(6.5)  # past one whole blocking wait
        await layer.group_send("idle-probe", {"type": "probe", "n": 1})

    pusher = asyncio.create_task(push_later())
    message = await asyncio.wait_for(layer.receive(channel), timeout=30)
    await pusher
    await layer.group_discard("idle-probe", channel)
    assert message == {"type": "probe", "n": 1}
