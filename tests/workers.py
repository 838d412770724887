"""Real workers for tests: `manage.py gpuworker` subprocesses on the test database and the real Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from gpu_workers.models import Device


def test_database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


class WorkerPool:
    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, device: str = "cpu") -> subprocess.Popen:
        log = open(settings.VAR_DIR / f"worker-{device.replace(':', '')}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, str(settings.BASE_DIR / "manage.py"), "gpuworker", "--device", device],
            env=worker_env(),
            cwd=settings.BASE_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        kind, _, index = device.partition(":")
        wait_for(
            lambda: Device.objects.filter(
                kind="cpu" if kind == "cpu" else "gpu",
                index=int(index or 0),
                worker_pid=proc.pid,
                status="online",
            ).exists(),
            message=f"worker {device} to register",
        )
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def workers(transactional_db):
    pool = WorkerPool()
    yield pool
    pool.stop_all()
