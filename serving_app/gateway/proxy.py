"""Forwarding one completion request to its engine, streaming the answer back as it comes.

One pooled ``httpx.AsyncClient`` per event loop keeps connections to the engines open. Streams are
relayed chunk by chunk (never buffered); each chunk's ``model`` is rewritten to the caller's name so the
engine's namespaced name never leaves the platform. The engine is always asked for usage, so usage is
recorded even when the caller did not ask for it; the extra chunk is then dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref

import httpx

from serving_app.gateway.answer import Answer, json_answer, stream_answer
from serving_app.gateway.errors import GatewayError
from serving_app.gateway.routing import Target
from serving_app.usage import buffer

logger = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(connect=5.0, read=600.0, write=60.0, pool=60.0)
LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=60.0)
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    pooled = _clients.get(loop)
    if pooled is None or pooled.is_closed:
        pooled = _clients[loop] = httpx.AsyncClient(timeout=TIMEOUT, limits=LIMITS)
    return pooled


def _record(target: Target, usage: dict | None) -> None:
    """Counted in the process's usage buffer; written to the database in the background."""
    usage = usage or {}
    buffer.add(
        target.org_id,
        target.deployment_id,
        target.usage_name,
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
    )


def unavailable(target: Target) -> GatewayError:
    return GatewayError(
        503,
        f"The model `{target.served_name}` is not reachable right now; its engine may be restarting.",
        type="server_error",
        code="engine_unavailable",
        retry_after=5,
    )


async def _healthy(http: httpx.AsyncClient, target: Target) -> bool:
    try:
        return (await http.get(target.base_url + "/health", timeout=2.0)).status_code == 200
    except httpx.HTTPError:
        return False


def _engine_error(status: int, raw: bytes, target: Target) -> GatewayError:
    try:
        error = json.loads(raw).get("error")
    except (ValueError, AttributeError):
        error = None
    error = error if isinstance(error, dict) else {"message": raw.decode(errors="replace")[:500]}
    if status == 404:  # the engine does not have it (yet): it is being loaded or was just restarted
        return GatewayError(
            503,
            f"The model `{target.served_name}` is being loaded; try again in a moment.",
            type="server_error",
            code="model_not_ready",
            retry_after=5,
        )
    message = str(error.get("message") or f"The engine answered HTTP {status}.")
    return GatewayError(
        status,
        message.replace(target.engine_model, target.served_name),
        type="invalid_request_error" if 400 <= status < 500 else "server_error",
        param=error.get("param") if isinstance(error.get("param"), str) else None,
    )


async def forward(target: Target, path: str, body: dict) -> Answer:
    """Send ``body`` to the engine behind ``target`` and answer the caller (whole, or as a stream)."""
    body = {**body, "model": target.engine_model}
    stream = bool(body.get("stream"))
    options = body.get("stream_options")
    wants_usage = stream and isinstance(options, dict) and bool(options.get("include_usage"))
    if stream:
        body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    http = client()
    request = http.build_request(
        "POST",
        target.base_url + path,
        content=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {target.api_key}", "Content-Type": "application/json"},
    )
    try:
        response = await http.send(request, stream=True)
    except httpx.HTTPError as exc:
        logger.warning("engine at %s unreachable: %s", target.base_url, exc)
        raise unavailable(target) from exc
    if response.status_code != 200:
        raw = await response.aread()
        await response.aclose()
        if response.status_code >= 500 and not await _healthy(http, target):
            # A dying engine: vLLM answers 500 while its core process is gone, until the server exits
            # and the supervisor restarts it. The caller is told to come back, not that its request failed.
            logger.warning(
                "engine at %s failed its health check after HTTP %s", target.base_url, response.status_code
            )
            raise unavailable(target)
        raise _engine_error(response.status_code, raw, target)
    if not stream:
        try:
            data = json.loads(await response.aread())
        except ValueError:
            data = None
        finally:
            await response.aclose()
        if not isinstance(data, dict):
            raise GatewayError(
                502,
                f"The engine of `{target.served_name}` gave an answer that is not JSON.",
                type="server_error",
            )
        data["model"] = target.served_name
        _record(target, data.get("usage"))
        return json_answer(data)
    return stream_answer(_relay(response, target, wants_usage))


async def _relay(response: httpx.Response, target: Target, wants_usage: bool):
    usage = None
    try:
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                yield b"data: [DONE]\n\n"
                continue
            try:
                chunk = json.loads(data)
            except ValueError:
                continue
            if isinstance(chunk, dict):
                if "model" in chunk:
                    chunk["model"] = target.served_name
                if chunk.get("usage"):
                    usage = chunk["usage"]
                if not wants_usage:
                    if chunk.get("usage") and not chunk.get("choices"):
                        continue  # the usage-only chunk the caller did not ask for
                    chunk.pop("usage", None)
            yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()
    except httpx.HTTPError as exc:
        # The engine died mid-answer (its supervisor restarts it). The status line is sent already, so
        # the caller is told the way OpenAI tells of a failure mid-stream: an error event, then the end.
        logger.warning("engine at %s stopped mid-stream: %s", target.base_url, exc)
        error = GatewayError(
            503,
            f"The engine of `{target.served_name}` stopped while answering; try again in a moment.",
            type="server_error",
            code="engine_unavailable",
        )
        yield f"data: {json.dumps(error.body())}\n\n".encode()
    finally:
        await response.aclose()
        _record(target, usage)
