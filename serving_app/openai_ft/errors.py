"""Every failure of ``/v1/files`` and ``/v1/fine_tuning`` in OpenAI's shape, with the status the ``openai``
client maps to its error classes (400 BadRequest, 401 Authentication, 403 PermissionDenied, 404 NotFound,
409 Conflict, 422 UnprocessableEntity, 429 RateLimit)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from llm_platform.api.errors import flatten_detail
from llm_platform.errors import DomainError
from llm_platform.input_guard import BadInput

DRF_CODES = {
    401: ("invalid_api_key", "invalid_request_error"),
    403: ("permission_denied", "invalid_request_error"),
    404: ("not_found", "invalid_request_error"),
    405: ("method_not_allowed", "invalid_request_error"),
    429: ("rate_limit_exceeded", "requests"),
}


def openai_error(
    status: int, message: str, *, param=None, code=None, type_="invalid_request_error", headers=None
):
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return Response(body, status=status, headers=headers)


def exception_handler(exc, context):
    """DRF's exception handler for these views (see ``OpenAIView.get_exception_handler``)."""
    if isinstance(exc, DomainError):
        fields = exc.fields or {}
        param = fields.get("param") if "param" in fields else next(iter(fields), None)
        return openai_error(exc.status, exc.message, param=param, code=exc.code)
    if isinstance(exc, BadInput):
        return openai_error(400, f"{exc.field}: {exc.message}", param=exc.field, code="invalid_value")
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    status = exc.status_code
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        status = 401
    code, type_ = DRF_CODES.get(status, ("invalid_request_error", "invalid_request_error"))
    headers = {}
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    return openai_error(status, flatten_detail(exc.detail), code=code, type_=type_, headers=headers)


ERROR_SCHEMA = inline_serializer(
    "OpenAIFineTuningError",
    {
        "error": inline_serializer(
            "OpenAIFineTuningErrorDetail",
            {
                "message": serializers.CharField(),
                "type": serializers.CharField(),
                "param": serializers.CharField(allow_null=True),
                "code": serializers.CharField(allow_null=True),
            },
        )
    },
)


def documented_errors(*statuses: int) -> dict:
    words = {
        400: "A field cannot be used (`param` names it).",
        401: "No API key, or a wrong or revoked one.",
        403: "The key lacks the scope this needs.",
        404: "No such object in your organization.",
        405: "Another method is needed.",
        409: "The job is not in a state that allows this.",
        413: "The file is over the upload limit.",
        415: "The body's media type is not accepted.",
    }
    return {s: OpenApiResponse(ERROR_SCHEMA, description=words[s]) for s in (401, 403, 405, 415, *statuses)}
