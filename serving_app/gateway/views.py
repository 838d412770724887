"""The gateway's views: async, so streams are relayed without holding a thread per request.

Authentication is the organization's API key (``Authorization: Bearer tf_...``), as for the REST API;
answers and errors use OpenAI's shapes, so the official ``openai`` client works against ``/v1``.
"""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from serving_app.gateway import proxy, routing
from serving_app.gateway.errors import GatewayError


def _method_not_allowed(allowed: str) -> HttpResponse:
    response = GatewayError(405, f"Use {allowed} on this endpoint.", code="method_not_allowed").response()
    response["Allow"] = allowed
    return response


def parse_body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"null")
    except RequestDataTooBig as exc:
        raise GatewayError(413, "The request body is too large.", code="request_too_large") from exc
    except ValueError as exc:
        raise GatewayError(400, "The request body is not valid JSON.", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise GatewayError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


@csrf_exempt
async def models(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return _method_not_allowed("GET")
    try:
        data = await sync_to_async(routing.list_models)(request.headers.get("Authorization", ""))
    except GatewayError as exc:
        return exc.response()
    return JsonResponse({"object": "list", "data": data})


@csrf_exempt
async def model_detail(request: HttpRequest, name: str) -> HttpResponse:
    if request.method != "GET":
        return _method_not_allowed("GET")
    try:
        data = await sync_to_async(routing.retrieve_model)(request.headers.get("Authorization", ""), name)
    except GatewayError as exc:
        return exc.response()
    return JsonResponse(data)


async def _complete(request: HttpRequest, path: str) -> HttpResponse:
    if request.method != "POST":
        return _method_not_allowed("POST")
    try:
        header = request.headers.get("Authorization", "")
        if not header:  # 401 before looking at the body, as OpenAI answers
            raise routing.missing_key()
        body = parse_body(request)
        target = await sync_to_async(routing.authenticate_and_resolve)(header, body.get("model"))
        return await proxy.forward(target, path, body)
    except GatewayError as exc:
        return exc.response()


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponse:
    return await _complete(request, "/v1/chat/completions")


@csrf_exempt
async def completions(request: HttpRequest) -> HttpResponse:
    return await _complete(request, "/v1/completions")
