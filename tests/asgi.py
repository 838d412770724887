"""daphne serving the platform in a process of its own: for browser tests, gateway tests and benchmarks.

``AsgiServer`` needs only the standard library (benchmarks import it without pytest); ``test_server``,
``session_cookie`` and ``log_in`` are the test-suite's conveniences on top of it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


class AsgiServer:
    """daphne serving ``llm_platform.asgi`` on a socket bound here (port 0: no race for a free port), started
    as ``manage.py up`` starts it (``llm_platform.webserver``: daphne streaming request bodies)."""

    def __init__(self, *, env: dict[str, str], log_path: Path, cwd: Path, verbosity: int = 1, timeout=60.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the process
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llm_platform.webserver",
                "--fd",
                str(self.sock.fileno()),
                "-v",
                str(verbosity),
                "llm_platform.asgi:application",
            ],
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=[self.sock.fileno()],
            start_new_session=True,
        )
        log.close()
        try:
            deadline = time.monotonic() + timeout
            while not self._healthy():
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"daphne did not answer /healthz within {timeout}s; see {self.log_path}"
                    )
                time.sleep(0.2)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"daphne exited with {self.proc.returncode}; see {self.log_path}")
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as response:  # noqa: S310
                return response.status == 200
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"daphne answers /healthz with {error.code}; see {self.log_path}") from error
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

    def __enter__(self) -> AsgiServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def test_server(log_name: str = "daphne-test.log", **env_overrides: str) -> AsgiServer:
    """daphne on the test database and this run's channel layer. DEBUG lets whitenoise serve static files
    from the source tree (no collectstatic for a test) unless ``DEBUG="false"`` is given."""
    from django.conf import settings

    from tests.workers import worker_env

    env = {**worker_env(), "DEBUG": "true", **env_overrides}
    return AsgiServer(env=env, log_path=Path(settings.VAR_DIR) / log_name, cwd=settings.BASE_DIR)


test_server.__test__ = False  # a helper, not a test, despite its name


def session_cookie(user) -> str:
    """The session id of a real login of ``user`` (what a browser would send)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def log_in(page, server: AsgiServer, user) -> None:
    """A Playwright page, signed in as ``user`` on ``server``."""
    from django.conf import settings

    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session_cookie(user), "url": server.url}]
    )
