"""OpenAI's error shape, ``{"error": {"message", "type", "param", "code"}}``, for every gateway answer."""

from __future__ import annotations

from django.http import HttpResponse

from serving_app.gateway.answer import Answer, json_answer


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
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = dict(headers or {})
        if retry_after:
            self.headers["Retry-After"] = str(retry_after)

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def answer(self) -> Answer:
        return json_answer(self.body(), self.status, self.headers)

    def response(self) -> HttpResponse:
        return self.answer().to_django()


def model_not_found(name: str) -> GatewayError:
    # OpenAI's own words: it never says whether the model exists for someone else.
    return GatewayError(
        404,
        f"The model `{name}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


def permission_denied(message: str) -> GatewayError:
    return GatewayError(403, message, code="permission_denied")


def method_not_allowed(allowed: str) -> GatewayError:
    return GatewayError(
        405, f"Use {allowed} on this endpoint.", code="method_not_allowed", headers={"Allow": allowed}
    )


def request_too_large() -> GatewayError:
    return GatewayError(413, "The request body is too large.", code="request_too_large")
