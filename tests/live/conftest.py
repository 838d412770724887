"""Live-monitoring fixtures: jobs without a worker, session cookies, and a real ASGI server (daphne).

The channel layer gets a prefix of this test run's own: the embedded Redis under var/test/ is shared by
every test run in this tree, and their job and org ids (each run has its own database) collide.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client

from tests.training.conftest import tiny_model, tiny_model_dir  # noqa: F401 - fixtures
from tests.workers import wait_for, worker_env
from training_app.models import BaseModel, TrainingJob

CHANNEL_PREFIX = f"tuneforge-live-{os.getpid()}"


@pytest.fixture(autouse=True)
def own_channel_layer(settings, monkeypatch):
    layers = {
        name: {**layer, "CONFIG": {**layer["CONFIG"], "prefix": CHANNEL_PREFIX}}
        for name, layer in settings.CHANNEL_LAYERS.items()
    }
    settings.CHANNEL_LAYERS = layers
    monkeypatch.setenv("CHANNEL_LAYER_PREFIX", CHANNEL_PREFIX)  # for daphne and worker subprocesses


@pytest.fixture
def base_model(db):
    return BaseModel.objects.create(name="tiny-base", path="/models/tiny", is_valid=True)


@pytest.fixture
def make_job(base_model):
    def make(org, name: str, **fields) -> TrainingJob:
        return TrainingJob.objects.create(organization=org, name=name, base_model=base_model, **fields)

    return make


def session_cookie(user) -> str:
    """The session id of a real login of ``user`` (what a browser would send)."""
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


class AsgiServer:
    """daphne serving llm_platform.asgi on the test database, on a socket bound here (no port race)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        env = worker_env()
        # DEBUG lets whitenoise serve static files from the source tree (no collectstatic for a test).
        env["DEBUG"] = "true"
        self.log_path = Path(settings.VAR_DIR) / "daphne-live-test.log"
        log = open(self.log_path, "ab")  # noqa: SIM115
        daphne = Path(sys.executable).with_name("daphne")
        self.proc = subprocess.Popen(
            [str(daphne), "--fd", str(self.sock.fileno()), "-v", "1", "llm_platform.asgi:application"],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=[self.sock.fileno()],
            start_new_session=True,
        )
        log.close()
        try:
            wait_for(self._healthy, timeout=60, message="daphne to answer /healthz")
        except BaseException:
            self.stop()
            raise

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"daphne exited with {self.proc.returncode}; see {self.log_path}")
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as response:  # noqa: S310
                return response.status == 200
        except urllib.error.HTTPError as error:
            raise AssertionError(f"daphne answers /healthz with {error.code}; see {self.log_path}") from error
        except OSError:
            return False  # not listening yet

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.sock.close()


@pytest.fixture
def asgi_server(transactional_db, own_channel_layer):
    server = AsgiServer()
    yield server
    server.stop()


@pytest.fixture
def page(page):
    """tests.browser's page, then closing the database connections the test opened: while Playwright's
    loop runs they live in a context of their own, where the test database teardown does not see them
    (PostgreSQL then refuses to drop a database "being accessed by other users")."""
    yield page
    connections.close_all()


def log_in(page, server: AsgiServer, user) -> None:
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session_cookie(user), "url": server.url}]
    )
