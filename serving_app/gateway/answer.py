"""What the gateway answers, independent of the web framework that sends it.

The same ``Answer`` is sent by the lean ASGI application (``serving_app.gateway.asgi``, what daphne runs for
``/v1/``) and by the Django views (the WSGI fallback, and the playground), so both speak exactly alike.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from django.http import HttpResponse, StreamingHttpResponse

JSON = "application/json"
EVENT_STREAM = "text/event-stream"


@dataclass
class Answer:
    status: int
    content_type: str = JSON
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None  # a streamed answer: chunks sent as they come
    headers: dict[str, str] = field(default_factory=dict)

    def header_list(self) -> list[tuple[bytes, bytes]]:
        headers = {"Content-Type": self.content_type, "X-Content-Type-Options": "nosniff", **self.headers}
        if self.stream is None:
            headers["Content-Length"] = str(len(self.body))
        return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]

    def to_django(self) -> HttpResponse:
        if self.stream is not None:
            response = StreamingHttpResponse(self.stream, status=self.status, content_type=self.content_type)
        else:
            response = HttpResponse(self.body, status=self.status, content_type=self.content_type)
        for name, value in self.headers.items():
            response[name] = value
        return response


def json_answer(data, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    body = json.dumps(data, ensure_ascii=False).encode()
    return Answer(status, JSON, body, headers=headers or {})


def stream_answer(chunks: AsyncIterator[bytes]) -> Answer:
    # No-cache, and no buffering by a reverse proxy (nginx honours X-Accel-Buffering).
    return Answer(
        200, EVENT_STREAM, stream=chunks, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
