"""The chat playground's endpoint: the portal calls the gateway on the signed-in user's behalf.

The browser never holds an API key: this view is session-authenticated (with CSRF), scoped to the
organization in the session, and sends the conversation through the same proxy as ``/v1``. With
``target=base`` it asks the base model instead, for the side-by-side comparison.
"""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse

from llm_platform.portal.views import may_infer
from llm_platform.tenancy import scoped
from serving_app.gateway import proxy
from serving_app.gateway.errors import GatewayError, permission_denied
from serving_app.gateway.routing import Target, target_of
from serving_app.gateway.views import parse_body
from serving_app.models import Deployment, DeploymentSource, DeploymentStatus

MAX_MESSAGES = 100
MAX_CHARS = 32_000
MAX_TOKENS = 4096


def _base_deployment(deployment: Deployment) -> Deployment | None:
    """The organization's deployment of the same base model, a ready one first."""
    candidates = Deployment.objects.select_related("engine", "base_model").filter(
        organization_id=deployment.organization_id,
        source=DeploymentSource.BASE,
        base_model_id=deployment.base_model_id,
    )
    return candidates.filter(status=DeploymentStatus.READY).first() or candidates.first()


def comparison_available(deployment: Deployment) -> bool:
    if deployment.source == DeploymentSource.BASE:
        return False
    return deployment.is_adapter or _base_deployment(deployment) is not None


def playground_target(org, pk: int, variant: str, *, may_chat: bool) -> Target:
    """``may_chat``: the user's role allows inference (viewers do not); checked after the lookup, so
    another organization's deployment is a 404 for everyone."""
    deployment = scoped(Deployment.objects.select_related("engine", "base_model"), org).filter(pk=pk).first()
    if deployment is None:
        raise GatewayError(404, "No such deployment.", code="not_found")
    if not may_chat:
        raise permission_denied("Your role in this organization (viewer) may not chat with models.")
    if variant == "tuned":
        return target_of(deployment)
    if variant != "base":
        raise GatewayError(400, "target must be 'tuned' or 'base'.", param="target")
    if deployment.source == DeploymentSource.BASE:
        raise GatewayError(400, "This deployment is the base model already.", param="target")
    if deployment.is_adapter:  # the base model runs in the same engine as the adapter
        return target_of(deployment, base=True)
    base = _base_deployment(deployment)
    if base is None:
        raise GatewayError(
            400, f"Publish the base model {deployment.base_model.name} to compare with it.", param="target"
        )
    return target_of(base)


def _number(payload: dict, name: str, low: float, high: float, default: float) -> float:
    value = payload.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise GatewayError(400, f"{name} must be a number from {low} to {high}.", param=name)
    return value


def chat_body(payload: dict) -> dict:
    """The OpenAI request for the playground's settings, checked field by field."""
    messages = payload.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        raise GatewayError(400, f"Send 1 to {MAX_MESSAGES} messages.", param="messages")
    for message in messages:
        if (
            not isinstance(message, dict)
            or message.get("role") not in ("system", "user", "assistant")
            or not isinstance(message.get("content"), str)
            or len(message["content"]) > MAX_CHARS
        ):
            raise GatewayError(
                400,
                f"Each message needs a role and at most {MAX_CHARS} characters of text.",
                param="messages",
            )
    max_tokens = payload.get("max_tokens", 256)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= MAX_TOKENS:
        raise GatewayError(
            400, f"max_tokens must be a whole number from 1 to {MAX_TOKENS}.", param="max_tokens"
        )
    body = {
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "temperature": _number(payload, "temperature", 0.0, 2.0, 0.7),
        "top_p": _number(payload, "top_p", 0.01, 1.0, 1.0),
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    tools = payload.get("tools")
    if tools:
        if (
            not isinstance(tools, list)
            or not all(isinstance(tool, dict) for tool in tools)
            or len(json.dumps(tools)) > MAX_CHARS
        ):
            raise GatewayError(
                400,
                f"tools must be a list of tool definitions of at most {MAX_CHARS} characters.",
                param="tools",
            )
        body["tools"] = tools  # the engine renders them through the model's chat template
    return body


@login_required
async def playground_chat(request: HttpRequest, pk: int) -> HttpResponse:
    if request.method != "POST":
        return GatewayError(405, "Use POST.", code="method_not_allowed").response()
    try:
        if getattr(request, "org", None) is None:
            raise GatewayError(404, "No such deployment.", code="not_found")
        payload = parse_body(request)
        variant = str(payload.get("target") or "tuned")
        target = await sync_to_async(playground_target)(request.org, pk, variant, may_chat=may_infer(request))
        answer = await proxy.forward(target, "/v1/chat/completions", chat_body(payload))
        return answer.to_django()
    except GatewayError as exc:
        return exc.response()
