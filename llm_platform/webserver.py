"""The web server: daphne, handing a request's body to the application one chunk at a time.

daphne 4 puts the whole body of a request into the application's input queue at once, 8 KB chunk by
8 KB chunk, before the application has read any of it (django/daphne#483): a 200 MB upload became
200 MB of queued chunks in the web process, and the allocator kept much of it afterwards. Twisted has
by then spooled every body over 100 KB to a temporary file, so this server's input queue drops daphne's
copies as they are queued and reads each chunk from that file when the application asks for it. The web
process holds one chunk of an upload at a time, whatever its size.

Run it with daphne's arguments: ``python -m llm_platform.webserver -b 127.0.0.1 -p 8000
llm_platform.asgi:application`` (``manage.py up`` and the tests do).
"""

from __future__ import annotations

import asyncio
from functools import partial

from daphne.server import Server  # first: it installs Twisted's asyncio reactor

from daphne.cli import CommandLineInterface  # isort: skip
from twisted.web import http  # isort: skip

BODY_CHUNK = 1 << 16


class StreamedBodyQueue(asyncio.Queue):
    """The input queue of one request whose body lies in Twisted's temporary file.

    daphne queues every ``http.request`` message synchronously before the application runs, then at
    most an ``http.disconnect``; :meth:`get` serves the body from the file, chunk by chunk, until it is
    all read or the client is gone (then the disconnect comes next, so the application stops early).
    """

    def __init__(self, content):
        super().__init__()
        self._content = content
        self._offset = 0
        self._length: int | None = None
        self._body_left = False
        self._gone = False

    def put_nowait(self, message: dict) -> None:
        if message.get("type") == "http.request":
            if self._length is None:
                self._content.seek(0, 2)
                self._length = self._content.tell()
                self._body_left = True
            return  # read again from the file in get()
        if message.get("type") == "http.disconnect":
            self._gone = True
        super().put_nowait(message)

    async def get(self) -> dict:
        if self._body_left and not self._gone:
            try:
                self._content.seek(self._offset)
                chunk = self._content.read(BODY_CHUNK)
            except ValueError:  # Twisted closed the file: the connection is gone
                self._gone = True
                return {"type": "http.disconnect"}
            self._offset += len(chunk)
            self._body_left = bool(chunk) and self._offset < self._length
            return {"type": "http.request", "body": chunk, "more_body": self._body_left}
        return await super().get()


def _spooled_to_file(protocol) -> bool:
    content = getattr(protocol, "content", None)
    try:
        return content is not None and content.fileno() >= 0
    except (AttributeError, OSError, ValueError):  # BytesIO: a small body, kept as daphne keeps it
        return False


class StreamingServer(Server):
    def protocol_connected(self, protocol) -> None:
        # Twisted would also parse a multipart or form body into ``request.args`` before daphne sees the
        # request: it reads the whole body into memory and copies it several times over (a 50 MB upload
        # took 600 MB). daphne never reads ``args``; Django parses the body itself, from disk.
        if isinstance(protocol, http.Request):
            protocol._parsePOSTFormSubmission = False
        super().protocol_connected(protocol)

    def create_application(self, protocol, scope):
        """daphne's own, with a :class:`StreamedBodyQueue` for an HTTP request whose body is on disk."""
        assert "application_instance" not in self.connections[protocol]
        if scope.get("type") == "http" and _spooled_to_file(protocol):
            input_queue = StreamedBodyQueue(protocol.content)
        else:
            input_queue = asyncio.Queue()
        scope.setdefault("asgi", {"version": "3.0"})
        application_instance = self.application(
            scope=scope, receive=input_queue.get, send=partial(self.handle_reply, protocol)
        )
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(
            application_instance, loop=asyncio.get_event_loop()
        )
        return input_queue


class StreamingCommandLine(CommandLineInterface):
    server_class = StreamingServer


def main() -> None:
    StreamingCommandLine.entrypoint()


if __name__ == "__main__":
    main()
