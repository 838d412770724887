"""Run the whole platform in the foreground: web server, one CPU worker, and what else apps add.

A supervisor, not a fuse: a child that dies is started again after a delay that doubles with each quick
death (up to ``RESTART_MAX_DELAY``; a child that ran ``STABLE_AFTER_SECONDS`` starts over at the first
delay), and so is the embedded Redis. Only Ctrl-C (SIGINT) or SIGTERM stops the platform: every child
cleanly, then the embedded Redis. Meanwhile it reconciles the fleet now and then (``manage.py reconcile
--if-due``), so a job whose worker died is requeued even while no worker is alive.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection

from llm_platform import redis_embedded

RESTART_FIRST_DELAY = 1.0
RESTART_MAX_DELAY = 60.0
STABLE_AFTER_SECONDS = 60.0
POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 15.0
CHILD_NAMES = ("web", "worker", "tasks", "serving")


def child_commands(host: str, port: int) -> list[tuple[str, list[str]]]:
    python = sys.executable
    manage = str(settings.BASE_DIR / "manage.py")
    commands = [
        (
            "web",
            [
                python,
                "-m",
                "llm_platform.webserver",
                "-b",
                host,
                "-p",
                str(port),
                "llm_platform.asgi:application",
            ],
        ),
        ("worker", [python, manage, "gpuworker", "--device", "cpu"]),
        # Dataset processing and other background tasks run apart from training, so a long training
        # run never holds up a large upload.
        ("tasks", [python, manage, "rqworker", "default"]),
    ]
    if "serving_app" in settings.INSTALLED_APPS:
        commands.append(("serving", [python, manage, "serve_models"]))
    return commands


def how_it_ended(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


@dataclass
class Backoff:
    """Delays before restarts: doubling while a process keeps dying soon after it started."""

    quick_deaths: int = 0

    def next_delay(self, ran_seconds: float) -> float:
        if ran_seconds >= STABLE_AFTER_SECONDS:
            self.quick_deaths = 0
        delay = min(RESTART_MAX_DELAY, RESTART_FIRST_DELAY * 2**self.quick_deaths)
        self.quick_deaths += 1
        return delay


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None  # set while it waits to be started again
    backoff: Backoff = field(default_factory=Backoff)

    def start(self) -> None:
        # Its own process group, so one Ctrl-C is handled here, once, in order.
        self.proc = subprocess.Popen(self.argv, start_new_session=True)
        self.started_at = time.monotonic()
        self.restart_at = None


class Reconciler(threading.Thread):
    """Runs ``reconcile --if-due`` every heartbeat: the fleet's shared lock lets one run per period, so
    with workers alive this costs one Redis call; with none, it is what requeues their lost jobs."""

    def __init__(self, log):
        super().__init__(name="reconciler", daemon=True)
        self.log = log
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.wait(float(settings.DEVICE_HEARTBEAT_SECONDS)):
                try:
                    close_old_connections()
                    call_command("reconcile", if_due=True)
                except Exception as exc:  # noqa: BLE001 - the database or Redis may be briefly away
                    self.log(f"reconciling failed ({type(exc).__name__}: {exc}); trying again")
        finally:
            connection.close()


class Command(BaseCommand):
    help = "Run the web server and a CPU worker until Ctrl-C (used by `make up`)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--skip",
            action="append",
            default=[],
            choices=CHILD_NAMES,
            help="Do not run this part here (repeatable), e.g. when it runs on another host.",
        )

    def handle(self, *args, host, port, skip, **options):
        self.redis_owned = settings.EMBEDDED_REDIS and redis_embedded.start()
        self.redis_started = time.monotonic()
        self.redis_backoff = Backoff()
        self.redis_restart_at: float | None = None
        children = [Child(name, argv) for name, argv in child_commands(host, port) if name not in skip]
        stopping = threading.Event()

        def stop(signum, frame):
            stopping.set()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        reconciler = Reconciler(self.stderr.write)
        try:
            for child in children:
                child.start()
                self.stdout.write(f"started {child.name} (pid {child.proc.pid})")
            self.stdout.write(
                self.style.SUCCESS(f"Tuneforge is up at http://{host}:{port}/  (Ctrl-C stops it)")
            )
            reconciler.start()
            while not stopping.is_set():
                self._watch_redis()
                for child in children:
                    self._watch(child)
                stopping.wait(POLL_SECONDS)
        finally:
            reconciler.stop.set()
            self._stop_children(children)
            reconciler.join(timeout=5)
            if self.redis_owned:
                redis_embedded.stop()
            self.stdout.write("Tuneforge stopped.")

    def _watch(self, child: Child) -> None:
        now = time.monotonic()
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.start()
                self.stdout.write(f"restarted {child.name} (pid {child.proc.pid})")
            return
        if child.proc.poll() is None:
            return
        ran = now - child.started_at
        delay = child.backoff.next_delay(ran)
        child.restart_at = now + delay
        self.stderr.write(
            f"{child.name} (pid {child.proc.pid}) {how_it_ended(child.proc.returncode)} after {ran:.0f} s; "
            f"restarting it in {delay:g} s"
        )

    def _watch_redis(self) -> None:
        """Only a server that is gone is restarted: one that is slow to answer still holds the queues."""
        if not settings.EMBEDDED_REDIS:
            return
        now = time.monotonic()
        if self.redis_restart_at is None:
            if redis_embedded.server_pid() is not None:
                return
            delay = self.redis_backoff.next_delay(now - self.redis_started)
            self.redis_restart_at = now + delay
            self.stderr.write(f"the embedded Redis is gone; restarting it in {delay:g} s")
            return
        if now < self.redis_restart_at:
            return
        try:
            redis_embedded.start()
        except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
            delay = self.redis_backoff.next_delay(0)
            self.redis_restart_at = now + delay
            self.stderr.write(f"the embedded Redis did not start ({exc}); trying again in {delay:g} s")
            return
        self.redis_restart_at = None
        self.redis_started = time.monotonic()
        self.redis_owned = True
        self.stdout.write(f"restarted the embedded Redis (pid {redis_embedded.server_pid()})")

    def _stop_children(self, children: list[Child]) -> None:
        running = [c for c in children if c.proc is not None and c.proc.poll() is None]
        for child in running:
            with contextlib.suppress(ProcessLookupError):  # it died just now
                os.killpg(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in running:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{child.name} did not stop in time; killing it")
                os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait()
