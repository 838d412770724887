"""Who is acting, for the audit log: the request's user or API key and its client address.

Each request gets one :class:`Actor` from :class:`ActorMiddleware`; API-key authentication (DRF, the
Bisheng-compatible API and the gateway all go through ``ApiKey.authenticate``) adds the key to it. Services
read it with :func:`current_actor` when they record, so every path that calls a service records alike and
no service needs a request. Work outside a request (workers, commands) records as the system.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.http import HttpRequest


@dataclass
class Actor:
    user: object | None = None
    api_key: object | None = None
    client_address: str | None = None

    @property
    def name(self) -> str:
        if self.api_key is not None:
            return f"api-key:{self.api_key.prefix}"
        if self.user is not None:
            return self.user.get_username()
        return "system"


SYSTEM = Actor()
_current: ContextVar[Actor | None] = ContextVar("tuneforge_actor", default=None)


def current_actor() -> Actor:
    return _current.get() or SYSTEM


def client_address(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: a forwarded-for header is the client's to forge unless a trusted proxy sets it.
    return request.META.get("REMOTE_ADDR") or None


def use_api_key(api_key) -> None:
    """The request acts with ``api_key`` (called once the key is authenticated)."""
    actor = _current.get()
    if actor is not None:
        actor.api_key = api_key


@contextmanager
def acting(actor: Actor) -> Iterator[Actor]:
    """Bind ``actor`` for code outside Django's request cycle (the ASGI gateway binds its request's)."""
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)


class ActorMiddleware:
    """Binds the request's actor for the length of the request (after authentication)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        user = request.user if request.user.is_authenticated else None
        # One mutable object per request: the API key authenticated later in the view is added to it.
        with acting(Actor(user=user, client_address=client_address(request))):
            return self.get_response(request)
