"""Whether the client of a request has hung up, for work a sync view does within the request.

Under ASGI, Django notices an ``http.disconnect`` while a view runs and cancels the request's task, but
a sync view runs on in its thread until it finishes. ``llm_platform.asgi`` passes every Django request's
``receive`` through :func:`watch`, which sets an event in the request's scope when the client is gone;
long work inside a request asks :func:`client_gone` between chunks and stops.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable

SCOPE_KEY = "tuneforge.client_gone"


def watch(scope: dict, receive: Callable[[], Awaitable[dict]]) -> Callable[[], Awaitable[dict]]:
    """``receive`` as the application sees it, recording an ``http.disconnect`` in ``scope``."""
    gone = scope[SCOPE_KEY] = threading.Event()

    async def watched_receive() -> dict:
        message = await receive()
        if message.get("type") == "http.disconnect":
            gone.set()
        return message

    return watched_receive


def client_gone(request) -> Callable[[], bool] | None:
    """A callable answering whether ``request``'s client has hung up; ``None`` outside ASGI."""
    event = (getattr(request, "scope", None) or {}).get(SCOPE_KEY)
    return event.is_set if event is not None else None
