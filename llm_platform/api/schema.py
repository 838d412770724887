"""The OpenAPI schema's error answers, documented once for every operation in each API's own shape.

Our API answers errors as ``{"error": {"status", "code", "message", "fields"}}``; the Bisheng-compatible
views keep Bisheng's envelope ``{status_code, status_message, data}`` for errors too. Each operation lists
the error statuses every endpoint can give (400 bad input naming the field, 401 no or a bad key, 403 a role
that may not, 404 not found or another organization's, 409 a state that does not allow it, 413 too large,
415 a body in a media type the endpoint does not read),
so a client, and the schema-driven fuzz test, can check error bodies as strictly as successes.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers

from llm_platform.bisheng import BishengAPIView

ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 415)


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField(help_text="The HTTP status, repeated.")
    code = serializers.CharField(help_text="A stable word for programs: invalid, not_found, conflict...")
    message = serializers.CharField(help_text="What went wrong, for people.")
    fields = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="Per field (a dotted path for nested values, 'body' for the whole body): what is wrong.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class BishengErrorSerializer(serializers.Serializer):
    status_code = serializers.IntegerField(help_text="The HTTP status, repeated.")
    status_message = serializers.CharField(help_text="What went wrong, for people.")
    data = serializers.JSONField(allow_null=True, help_text="Per field, what is wrong; null otherwise.")


class AutoSchema(SpectacularAutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        error = BishengErrorSerializer if isinstance(self.view, BishengAPIView) else ErrorSerializer
        for status in ERROR_STATUSES:
            responses.setdefault(str(status), self._get_response_for_code(error, str(status)))
        return responses
