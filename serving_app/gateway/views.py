"""The gateway as Django views: what WSGI deployments (and Django's test client) reach at ``/v1/``.

Under ASGI (daphne, as ``make up`` runs it) ``llm_platform.asgi`` hands ``/v1/`` to the lean ASGI
application in ``serving_app.gateway.asgi`` before Django's middleware; both call the same
``handlers.handle``, so they answer alike.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from serving_app.gateway import handlers
from serving_app.gateway.errors import GatewayError, request_too_large


def raw_body(request: HttpRequest) -> bytes:
    try:
        return request.body
    except RequestDataTooBig as exc:
        raise request_too_large() from exc


def parse_body(request: HttpRequest) -> dict:
    return handlers.parse_body(raw_body(request))


@csrf_exempt
async def gateway(request: HttpRequest, path: str) -> HttpResponse:
    try:
        body = raw_body(request)
    except GatewayError as exc:
        return exc.response()
    authorization = request.headers.get("Authorization", "")
    answer = await handlers.handle(request.method, path, authorization, body)
    return answer.to_django()
