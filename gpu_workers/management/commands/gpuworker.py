"""``manage.py gpuworker --device 0`` (repeatable, or ``--devices 0,1``; ``--device cpu`` / ``cpu:1``).

One device: this process registers it, heartbeats it (NVML readings on GPU hosts), reconciles, and runs
an RQ worker on the device's queue; each training run is a separate trainer process that dies with it.
Several devices: this process supervises one such worker process per device (one job at a time per
device), restarts one that dies, and stops them all on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from gpu_workers import conf
from gpu_workers.devices import DeviceError, parse_device_list
from gpu_workers.queues import get_queue, redis_connection
from gpu_workers.reconcile import reconcile
from gpu_workers.trainer_process import die_with_parent
from gpu_workers.worker import DeviceWorker, register, sign_off, start_beating

logger = logging.getLogger(__name__)

RESTART_DELAY_SECONDS = 5
STOP_GRACE_SECONDS = 20


def device_name(kind: str, index: int) -> str:
    return f"cpu:{index}" if kind == "cpu" else str(index)


class Command(BaseCommand):
    help = "Run a worker for devices: --device cpu, --device cpu:1, --device 0 (repeatable), --devices 0,1."

    def add_arguments(self, parser):
        parser.add_argument("--device", action="append", default=[], help="cpu, cpu:N, or a GPU index")
        parser.add_argument("--devices", default="", help="Comma-separated GPU indexes, e.g. 0,1")
        parser.add_argument("--burst", action="store_true", help="Exit when the queue is empty")

    def handle(self, *args, device, devices, burst, **options):
        names = [*device, *[d for d in devices.split(",") if d.strip()]] or ["cpu"]
        try:
            conf.check()
            parsed = parse_device_list(names)
        except (DeviceError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc
        if len(parsed) == 1:
            self.serve(*parsed[0], burst=burst)
        else:
            self.supervise([device_name(kind, index) for kind, index in parsed], burst=burst)

    def serve(self, kind: str, index: int, burst: bool) -> None:
        try:
            device, recovered = register(kind, index)
        except DeviceError as exc:
            raise CommandError(str(exc)) from exc
        if recovered:
            self.stdout.write(f"requeued job(s) {recovered} that a dead worker was running on {device}")
        reconcile()
        queue = get_queue(device.queue_name)
        worker = DeviceWorker([queue], connection=redis_connection())
        threads = start_beating([device], worker)
        self.stdout.write(f"worker for {device} on queue {queue.name}")
        try:
            worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
        finally:
            for thread in threads:
                thread.stop.set()
            for thread in threads:
                thread.join(timeout=10)
            sign_off([device])  # only if this process still holds it

    def supervise(self, names: list[str], burst: bool) -> None:
        """One child worker per device; a child that dies is started again (it takes its device over)."""
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        children = {name: self._start_child(name, burst) for name in names}
        self.stdout.write(f"supervising workers for devices {', '.join(names)}")
        while not stopping:
            for name, child in list(children.items()):
                if child.poll() is None:
                    continue
                if burst:
                    children.pop(name)
                    continue
                self.stderr.write(f"worker for {name} exited with code {child.returncode}; restarting it")
                time.sleep(RESTART_DELAY_SECONDS)
                if not stopping:
                    children[name] = self._start_child(name, burst)
            if burst and not children:
                return
            time.sleep(0.5)
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)  # each child requeues its job and signs off
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    @staticmethod
    def _start_child(name: str, burst: bool) -> subprocess.Popen:
        argv = [sys.executable, str(settings.BASE_DIR / "manage.py"), "gpuworker", "--device", name]
        if burst:
            argv.append("--burst")
        # Same process group (a group kill reaches every child); each dies with this supervisor too.
        return subprocess.Popen(argv, cwd=settings.BASE_DIR, preexec_fn=die_with_parent(signal.SIGTERM))  # noqa: PLW1509
