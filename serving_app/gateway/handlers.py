"""The gateway's endpoints, free of any web framework: a method, a path, a key and a body in, an Answer out.

Authentication is the organization's API key (``Authorization: Bearer tf_...``), as for the REST API;
answers and errors use OpenAI's shapes, so the official ``openai`` client works against ``/v1``. The one
database trip of a completion (key, then model) runs in a worker thread; the rest is async, so streams are
relayed without holding a thread per request.
"""

from __future__ import annotations

import asyncio
import time

from asgiref.sync import sync_to_async
from django.conf import settings

from llm_platform import input_guard
from serving_app.gateway import proxy, routing
from serving_app.gateway.answer import Answer, json_answer
from serving_app.gateway.errors import GatewayError, method_not_allowed

COMPLETIONS = {"chat/completions": "/v1/chat/completions", "completions": "/v1/completions"}


def parse_body(raw: bytes) -> dict:
    """The body as a JSON object, through the platform's one input guard; what it refuses is a 400 whose
    ``param`` names the field (null when the body as a whole is wrong)."""
    try:
        return input_guard.loads(raw or b"null")
    except input_guard.BadInput as exc:
        whole = exc.field == input_guard.BODY
        code = "invalid_json" if whole else "invalid_value"
        message = f"The request body {exc.message}." if whole else f"{exc.field}: {exc.message}."
        raise GatewayError(400, message, param=None if whole else exc.field, code=code) from None


def not_found(path: str) -> GatewayError:
    return GatewayError(404, f"Unknown endpoint /v1/{path}.", code="unknown_url")


def route(method: str, path: str) -> tuple[str, str | None]:
    """(endpoint, model name) for a path under /v1/; raises the 404 or 405 it deserves."""
    if path in COMPLETIONS:
        if method != "POST":
            raise method_not_allowed("POST")
        return path, None
    if path == "models" or (path.startswith("models/") and len(path) > len("models/")):
        if method != "GET":
            raise method_not_allowed("GET")
        return "models", path[len("models/") :] or None
    raise not_found(path)


async def handle(method: str, path: str, authorization: str, body: bytes, *, db=sync_to_async) -> Answer:
    """Answer ``method`` on ``/v1/<path>``. ``db`` runs one synchronous ORM call off the event loop."""
    try:
        endpoint, name = route(method, path)
        if endpoint == "models":
            if name is None:
                data = await db(routing.list_models)(authorization)
                return json_answer({"object": "list", "data": data})
            return json_answer(await db(routing.retrieve_model)(authorization, name))
        if not authorization:  # 401 before looking at the body, as OpenAI answers
            raise routing.missing_key()
        payload = parse_body(body)
        target = await resolve(authorization, payload.get("model"), db)
        return await proxy.forward(target, COMPLETIONS[endpoint], payload)
    except GatewayError as exc:
        return exc.answer()


async def resolve(authorization: str, model, db) -> routing.Target:
    """The request's target. A fine-tuned (``ft:``) model loading on first use is waited for, up to
    SERVING_LOAD_WAIT_SECONDS; past that the 503 with Retry-After goes back to the caller."""
    deadline = time.monotonic() + settings.SERVING_LOAD_WAIT_SECONDS
    while True:
        try:
            return await db(routing.authenticate_and_resolve)(authorization, model)
        except GatewayError as exc:
            loading = exc.code == "model_not_ready" and isinstance(model, str) and model.startswith("ft:")
            if not loading or time.monotonic() >= deadline:
                raise
        await asyncio.sleep(1)
