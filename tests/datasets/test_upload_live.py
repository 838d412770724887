"""Uploads against a real web process (``llm_platform.webserver``, as ``make up`` runs it): a client that
hangs up stops the ingest it started, and a web process killed mid-upload leaves nothing half-created.

The server gets storage and a temporary directory of its own, so the test sees every file it leaves.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import urllib.request
from pathlib import Path

import pytest

from datasets_app.models import Dataset
from llm_platform.models import ApiKey
from tests.asgi import test_server
from tests.datasets.dataset_support import raw_multipart
from tests.workers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

FILLER = "Each row is long enough that the file takes the ingest a while to read. " * 4


def big_jsonl(megabytes: int) -> bytes:
    lines, size, i = [], 0, 0
    while size < megabytes << 20:
        line = json.dumps({"instruction": f"Question {i}?", "input": FILLER, "output": f"Answer {i}."}) + "\n"
        lines.append(line)
        size += len(line)
        i += 1
    return "".join(lines).encode()


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


@pytest.fixture
def web(org_a, tmp_path):
    """``start(**env)`` -> (server, api key, media dir, temporary dir) of a web process of this test."""
    media, temp = tmp_path / "media", tmp_path / "tmp"
    media.mkdir()
    temp.mkdir()
    _key, raw_key = ApiKey.issue(org_a, name="live")
    servers = []

    def start(**env):
        servers.append(test_server("daphne-upload.log", MEDIA_ROOT=str(media), TMPDIR=str(temp), **env))
        return servers[-1], raw_key, media, temp

    yield start
    for server in servers:
        server.stop()


def send_upload(port: int, key: str, content: bytes, *, send_bytes: int | None = None) -> socket.socket:
    """Open a connection and send an upload's request (``send_bytes`` of its body); the answer is not read."""
    body, content_type = raw_multipart("file", "big.jsonl", content)
    head = (
        f"POST /api/datasets/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head + body[:send_bytes])
    return sock


def test_a_client_that_hangs_up_stops_the_ingest_it_started(web):
    # Processed within the request whatever its size, so the request is still busy when the client leaves.
    server, key, media, temp = web(INLINE_INGEST_MAX_MB="1000")
    sock = send_upload(server.port, key, big_jsonl(40))
    wait_for(lambda: list(temp.glob("tf-ingest-*")), interval=0.01, message="the ingest to start")
    sock.close()

    wait_for(lambda: not list(temp.glob("tf-*")), timeout=120, message="the ingest to stop and clean up")
    assert not Dataset.objects.exists()  # finished, it would have been saved as ready
    assert files_under(media) == []
    with urllib.request.urlopen(f"{server.url}/healthz", timeout=10) as response:  # noqa: S310
        assert response.status == 200


@pytest.mark.parametrize("when", ["mid-body", "mid-ingest"])
def test_a_web_process_killed_mid_upload_leaves_nothing(web, when):
    server, key, media, temp = web(INLINE_INGEST_MAX_MB="1000")
    content = big_jsonl(40)
    if when == "mid-body":
        sock = send_upload(server.port, key, content, send_bytes=len(content) // 2)
    else:
        sock = send_upload(server.port, key, content)
        wait_for(lambda: list(temp.glob("tf-ingest-*")), interval=0.01, message="the ingest to start")
    os.killpg(server.pid, signal.SIGKILL)
    server.proc.wait(timeout=30)
    sock.close()

    assert not Dataset.objects.exists()
    assert files_under(media) == []
    if when == "mid-body":  # Twisted spools the body to an unlinked temporary file: nothing is left
        assert files_under(temp) == []
