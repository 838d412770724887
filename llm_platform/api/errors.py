"""One error shape for the whole API: ``{"error": {"status", "code", "message", "fields"}}``."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from llm_platform.errors import DomainError
from llm_platform.input_guard import BadInput

API_PREFIX = "/api/"
BISHENG_PREFIX = "/api/v1/finetune/"


def flatten_detail(detail) -> str:
    """DRF's error detail (nested dicts and lists) as one line of text."""
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {flatten_detail(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return " ".join(flatten_detail(item) for item in detail)
    return str(detail)


def error_response(status_code: int, code: str, message: str, fields: dict | None = None, headers=None):
    body = {"error": {"status": status_code, "code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return Response(body, status=status_code, headers=headers)


def page_not_found(request, exception) -> HttpResponse:
    """Django's 404 for a URL no route matches (``/api/jobs/0.5/``): JSON in the API's own shape under
    ``/api/`` (Bisheng's envelope under its prefix), the portal's page elsewhere."""
    if request.path.startswith(BISHENG_PREFIX):
        body = {"status_code": 404, "status_message": "Not found.", "data": None}
    elif request.path.startswith(API_PREFIX):
        body = {"error": {"status": 404, "code": "not_found", "message": "Not found."}}
    else:
        return defaults.page_not_found(request, exception)
    return JsonResponse(body, status=404)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return error_response(exc.status, exc.code, exc.message, exc.fields)
    if isinstance(exc, BadInput):
        exc = exceptions.ValidationError({exc.field: [exc.message]})
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    if isinstance(exc, exceptions.ValidationError):
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        message = flatten_detail(fields)
        code = "invalid"
    else:
        fields = None
        message = flatten_detail(detail.get("detail", detail) if isinstance(detail, dict) else detail)
        code = getattr(exc, "default_code", "error")
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        code = "not_authenticated"
    return error_response(response.status_code, code, message, fields, headers=response.headers)
