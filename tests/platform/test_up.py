"""``manage.py up`` supervises: a child or the embedded Redis that dies is started again; only SIGTERM or
Ctrl-C stops the platform, and then nothing of it is left running."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import psutil
import pytest
from django.conf import settings

from gpu_workers.models import Device
from llm_platform.management.commands.up import Backoff
from tests.workers import wait_for, worker_env

pytestmark = pytest.mark.slow


def test_restart_delays_double_while_a_child_keeps_dying_and_start_over_once_it_ran_stably():
    backoff = Backoff()
    assert [backoff.next_delay(2) for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.next_delay(3600) == 1
    assert backoff.next_delay(0) == 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


class Up:
    """``manage.py up`` in a var directory of its own, on the test database, with its output kept."""

    def __init__(self, var_dir, port: int):
        self.log_path = var_dir / "up.log"
        env = {k: v for k, v in worker_env().items() if k != "REDIS_URL"}  # the embedded Redis, its own
        env.update(TUNEFORGE_VAR_DIR=str(var_dir), DEBUG="true", PYTHONUNBUFFERED="1")
        argv = [sys.executable, str(settings.BASE_DIR / "manage.py"), "up", "--port", str(port)]
        # The dataset worker and the serving supervisor are restarted the same way; left out to keep
        # this test to two Django children on a small machine.
        argv += ["--skip", "tasks", "--skip", "serving"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pid(self, pattern: str) -> int | None:
        found = re.findall(pattern, self.log())
        return int(found[-1]) if found else None

    def wait_pid(self, pattern: str, timeout: float = 90) -> int:
        return wait_for(lambda: self.pid(pattern), timeout=timeout, message=f"{pattern!r} in\n{self.log()}")


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_up_restarts_a_killed_worker_web_and_redis_and_stops_everything_on_sigterm(
    transactional_db, tmp_path_factory
):
    var_dir = tmp_path_factory.mktemp("up")
    port = free_port()
    up = Up(var_dir, port)
    try:
        worker = up.wait_pid(r"started worker \(pid (\d+)\)")
        web = up.wait_pid(r"started web \(pid (\d+)\)")
        wait_for(lambda: healthy(port), timeout=90, message="the web to answer")
        wait_for(
            lambda: Device.objects.filter(worker_pid=worker, status="online").exists(),
            timeout=90,
            message="the worker to register its device",
        )

        os.kill(worker, signal.SIGKILL)
        new_worker = up.wait_pid(r"restarted worker \(pid (\d+)\)")
        assert new_worker != worker
        assert f"worker (pid {worker}) was killed by SIGKILL after" in up.log()
        assert "restarting it in 1 s" in up.log()
        wait_for(
            lambda: Device.objects.filter(worker_pid=new_worker, status="online").exists(),
            timeout=90,
            message="the restarted worker to take its device over",
        )

        os.kill(web, signal.SIGKILL)
        new_web = up.wait_pid(r"restarted web \(pid (\d+)\)")
        assert new_web != web
        wait_for(lambda: healthy(port), timeout=90, message="the restarted web to answer")

        redis_pid = int((var_dir / "redis" / "redis.pid").read_text())
        os.kill(redis_pid, signal.SIGKILL)
        new_redis = up.wait_pid(r"restarted the embedded Redis \(pid (\d+)\)")
        assert new_redis != redis_pid
        wait_for(lambda: healthy(port), timeout=30, message="the web to reach the new Redis")
        assert up.proc.poll() is None, "the platform is still up"
        assert alive(new_worker) and alive(new_web)

        up.proc.send_signal(signal.SIGTERM)
        assert up.proc.wait(timeout=60) == 0
    finally:
        if up.proc.poll() is None:
            up.proc.kill()
            up.proc.wait()
    assert "Tuneforge stopped." in up.log()
    wait_for(
        lambda: not any(alive(pid) for pid in (new_worker, new_web, new_redis)),
        timeout=10,
        message="every part of the platform to be gone",
    )
    device = Device.objects.get(worker_pid__isnull=True)
    assert device.status == "offline", "the worker signed off on its way out"
