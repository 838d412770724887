"""The gateway as a lean ASGI application: what daphne runs for every path under ``/v1/``.

A completion through the gateway should cost little more than calling the engine itself, so ``/v1/`` does
not go through Django's request cycle: no middleware chain (sessions, CSRF, messages, static files; the
synchronous ones each cost a thread hop under ASGI), no ``HttpRequest``. This application reads the body
(within ``DATA_UPLOAD_MAX_MEMORY_SIZE``), checks the Host header against ``ALLOWED_HOSTS``, sends HSTS over
HTTPS as Django's SecurityMiddleware would (``SECURE_HSTS_*``, ``SECURE_PROXY_SSL_HEADER``), and calls the
same ``handlers.handle`` as the Django views. Its one database trip runs on asgiref's shared sync thread,
as Django's own ORM calls under ASGI do, and keeps that thread's connection open between requests (a broken
one is replaced and the call retried, for a second at most: ``llm_platform.db.retrying``).

A streamed answer is relayed chunk by chunk; when the caller goes away the relay stops, which closes the
engine's stream so it stops generating.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from llm_platform.db import retrying
from serving_app.gateway import handlers
from serving_app.gateway.answer import Answer
from serving_app.gateway.errors import GatewayError, request_too_large

logger = logging.getLogger("serving_app.gateway")
PREFIX = "/v1/"
LOOKUP_RETRY_SECONDS = 1.0


# OpenAI's fine-tuning side (multipart uploads, not latency-critical) is Django's: serving_app.openai_ft.
DJANGO_PREFIXES = ("/v1/files", "/v1/fine_tuning")


def is_gateway_path(path: str) -> bool:
    if path.startswith(DJANGO_PREFIXES):
        return False
    return path.startswith(PREFIX) or path == PREFIX.rstrip("/")


def db(fn):
    """``fn`` run off the event loop (on the shared sync thread); if the database dropped the connection
    (a restart), a fresh one is opened and the call retried, briefly: a request must not hang on it."""

    @functools.wraps(fn)
    def guarded(*args):
        return retrying(functools.partial(fn, *args), what="a gateway lookup", seconds=LOOKUP_RETRY_SECONDS)

    return sync_to_async(guarded)


def _allowed_hosts() -> list[str]:
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # as Django does
    return allowed


def _is_secure(scope) -> bool:
    """HTTPS, directly or (with SECURE_PROXY_SSL_HEADER) behind a TLS-terminating proxy, as Django decides."""
    if scope.get("scheme") == "https":
        return True
    if not settings.SECURE_PROXY_SSL_HEADER:
        return False
    name, value = settings.SECURE_PROXY_SSL_HEADER
    wanted = name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
    for header, given in scope["headers"]:
        if header.lower() == wanted:
            return given.decode("latin-1").split(",", 1)[0].strip() == value
    return False


def _hsts() -> str:
    """What Django's SecurityMiddleware sends (the gateway does not run Django's middleware)."""
    value = f"max-age={settings.SECURE_HSTS_SECONDS}"
    if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
        value += "; includeSubDomains"
    if settings.SECURE_HSTS_PRELOAD:
        value += "; preload"
    return value


class TooLarge(Exception):
    pass


class GatewayApplication:
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"the gateway speaks HTTP only, not {scope['type']}")
        try:
            answer = await self.answer(scope, receive)
        except Exception:  # noqa: BLE001 - a bug must still answer in OpenAI's shape, and be logged
            logger.exception("gateway error on %s %s", scope.get("method"), scope.get("path"))
            answer = GatewayError(500, "The gateway failed; try again.", type="server_error").answer()
        if settings.SECURE_HSTS_SECONDS and _is_secure(scope):
            answer.headers["Strict-Transport-Security"] = _hsts()
        await send({"type": "http.response.start", "status": answer.status, "headers": answer.header_list()})
        if answer.stream is None:
            await send({"type": "http.response.body", "body": answer.body})
        else:
            await self.relay(answer, receive, send)

    async def answer(self, scope, receive) -> Answer:
        headers = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        host = headers.get("host", "")
        domain, _port = split_domain_port(host)
        if not domain or not validate_host(domain, _allowed_hosts()):
            return GatewayError(400, f"Invalid Host header {host!r}.", code="invalid_host").answer()
        try:
            body = await self.read_body(receive, headers.get("content-length"))
        except TooLarge:
            return request_too_large().answer()
        if body is None:  # the caller went away before sending its request
            return GatewayError(400, "The request ended early.", code="incomplete_request").answer()
        path = scope["path"][len(PREFIX) :]
        return await handlers.handle(scope["method"], path, headers.get("authorization", ""), body, db=db)

    @staticmethod
    async def read_body(receive, declared: str | None) -> bytes | None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        # A Content-Length that is not ASCII digits ("²" passes str.isdigit) says nothing: the count below
        # still bounds the body.
        digits = bool(declared) and declared.isascii() and declared.isdigit()
        if limit is not None and digits and (len(declared) > 19 or int(declared) > limit):
            raise TooLarge
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if limit is not None and size > limit:
                raise TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    async def relay(answer: Answer, receive, send) -> None:
        """Send the stream's chunks as they come; stop (closing the engine's stream) if the caller leaves."""

        async def pump():
            try:
                async for chunk in answer.stream:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except Exception:  # noqa: BLE001 - a stream that breaks must still end, or the caller waits on
                logger.warning("stream relay ended early", exc_info=True)
            finally:
                with contextlib.suppress(Exception):
                    await answer.stream.aclose()
            await send({"type": "http.response.body", "body": b""})

        async def caller_left():
            while (await receive())["type"] != "http.disconnect":
                pass

        streaming = asyncio.ensure_future(pump())
        watching = asyncio.ensure_future(caller_left())
        try:
            await asyncio.wait({streaming, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (streaming, watching):
                task.cancel()
            await asyncio.gather(streaming, watching, return_exceptions=True)
        if not streaming.cancelled() and streaming.exception() is not None:
            logger.warning("stream relay ended early: %r", streaming.exception())


application = GatewayApplication()
