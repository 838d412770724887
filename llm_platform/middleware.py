"""The portal's side of the one input guard: a value a page cannot read is a 400 naming its field."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from llm_platform.input_guard import BadInput


class BadInputMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, BadInput):
            return HttpResponseBadRequest(str(exception), content_type="text/plain; charset=utf-8")
        return None
