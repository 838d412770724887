"""Run the whole platform in the foreground: web server, one CPU worker, and what else apps add.

Ctrl-C (SIGINT) or SIGTERM stops every child cleanly, and the embedded Redis when this command started it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from llm_platform import redis_embedded


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


class Command(BaseCommand):
    help = "Run the web server and a CPU worker until Ctrl-C (used by `make up`)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host, port, **options):
        started_redis = settings.EMBEDDED_REDIS and redis_embedded.start()
        children: list[tuple[str, subprocess.Popen]] = []
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for name, argv in child_commands(host, port):
                # Each child gets its own process group so one Ctrl-C is handled here, once, in order.
                children.append((name, subprocess.Popen(argv, start_new_session=True)))
                self.stdout.write(f"started {name} (pid {children[-1][1].pid})")
            self.stdout.write(
                self.style.SUCCESS(f"Tuneforge is up at http://{host}:{port}/  (Ctrl-C stops it)")
            )
            while not stopping:
                for name, proc in children:
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; stopping the platform")
                        stopping = True
                time.sleep(0.5)
        finally:
            self._stop_children(children)
            if started_redis:
                redis_embedded.stop()
            self.stdout.write("Tuneforge stopped.")

    def _stop_children(self, children) -> None:
        for _name, proc in children:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, proc in children:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in time; killing it")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
