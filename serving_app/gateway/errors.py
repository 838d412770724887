"""OpenAI's error shape, ``{"error": {"message", "type", "param", "code"}}``, for every gateway answer."""

from __future__ import annotations

from django.http import JsonResponse


class GatewayError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # noqa: A002 - OpenAI's field name
        param: str | None = None,
        code: str | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.retry_after = retry_after

    def response(self) -> JsonResponse:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        response = JsonResponse(body, status=self.status)
        if self.retry_after:
            response["Retry-After"] = str(self.retry_after)
        return response


def model_not_found(name: str) -> GatewayError:
    # OpenAI's own words: it never says whether the model exists for someone else.
    return GatewayError(
        404,
        f"The model `{name}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )
