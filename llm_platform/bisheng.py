"""The Bisheng-compatible API's conventions: every reply is ``{status_code, status_message, data}``.

Errors keep the envelope, with a non-200 ``status_code``, a readable ``status_message`` and the matching
HTTP status, so Bisheng's front end and scripts written against it work unchanged.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from llm_platform.api.errors import exception_handler
from llm_platform.api.permissions import TenantPermission, request_org_and_role


def envelope(data=None, *, status_code: int = 200, message: str = "SUCCESS") -> Response:
    return Response({"status_code": status_code, "status_message": message, "data": data}, status=status_code)


def reply_schema(name: str, data=None, **kwargs):
    """``extend_schema`` for a Bisheng endpoint: a 200 whose body is the envelope around ``data`` (a
    serializer or field; None for the endpoints whose ``data`` is null). Errors are added for every
    operation by ``llm_platform.api.schema``; ``kwargs`` go to ``extend_schema`` (request, parameters...)."""
    if data is None:
        data = serializers.JSONField(allow_null=True, help_text="null")
    reply = inline_serializer(
        name=f"Bisheng{name}Reply",
        fields={
            "status_code": serializers.IntegerField(help_text="200"),
            "status_message": serializers.CharField(help_text="SUCCESS"),
            "data": data,
        },
    )
    return extend_schema(responses={200: reply}, **kwargs)


class BishengAPIView(APIView):
    """Tenant-scoped like the rest of the API, answering in Bisheng's envelope, errors included."""

    permission_classes = [TenantPermission]

    @property
    def org(self):
        return request_org_and_role(self.request)[0]

    def get_exception_handler(self):
        def handler(exc, context):
            response = exception_handler(exc, context)
            if response is None:
                return None
            error = response.data.get("error", {})
            wrapped = envelope(
                error.get("fields"), status_code=response.status_code, message=error.get("message", "error")
            )
            for name, value in response.headers.items():
                wrapped[name] = value
            return wrapped

        return handler
