"""``manage.py gpuworker --device 0`` (repeatable, or ``--devices 0,1``; ``--device cpu`` / ``cpu:1``).

Registers each device, heartbeats it (NVML readings on GPU hosts) and reconciles, then runs an RQ worker
on the queues of its devices. Jobs run in this process (RQ's SimpleWorker); each training run is a
separate trainer process that dies with the worker.
"""

from __future__ import annotations

import logging
import os
import threading

import django_rq
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections
from django.utils import timezone
from rq import SimpleWorker

from gpu_workers.devices import host_name, parse_device_arg, read_device
from gpu_workers.models import HEARTBEAT_SECONDS, Device, DeviceStatus
from gpu_workers.queues import get_queue
from gpu_workers.reconcile import reconcile

logger = logging.getLogger(__name__)


def register(kind: str, index: int) -> Device:
    reading = read_device(kind, index)
    device, _ = Device.objects.update_or_create(
        host=host_name(),
        kind=kind,
        index=index,
        defaults={
            "uuid": reading.uuid,
            "name": reading.name,
            "memory_total_mb": reading.memory_total_mb,
            "memory_used_mb": reading.memory_used_mb,
            "utilization": reading.utilization,
            "capabilities": reading.capabilities,
            "heartbeat_at": timezone.now(),
            "worker_pid": os.getpid(),
        },
    )
    # Keep an operator's drain; anything else comes back online with a live worker.
    Device.objects.filter(pk=device.pk).exclude(status=DeviceStatus.DRAINING).update(
        status=DeviceStatus.ONLINE
    )
    return device


def heartbeat(devices: list[Device]) -> None:
    for device in devices:
        reading = read_device(device.kind, device.index)
        Device.objects.filter(pk=device.pk).update(
            heartbeat_at=timezone.now(),
            memory_used_mb=reading.memory_used_mb,
            utilization=reading.utilization,
            worker_pid=os.getpid(),
        )
        Device.objects.filter(pk=device.pk, status=DeviceStatus.OFFLINE).update(status=DeviceStatus.ONLINE)
        Device.objects.filter(pk=device.pk, drain=True).exclude(status=DeviceStatus.DRAINING).update(
            status=DeviceStatus.DRAINING
        )


def heartbeat_loop(devices: list[Device], stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        try:
            close_old_connections()
            heartbeat(devices)
            reconcile()
        except Exception:  # noqa: BLE001 - a failed beat is retried; the worker keeps serving
            logger.exception("heartbeat failed")


class Command(BaseCommand):
    help = "Run an RQ worker bound to devices: --device cpu, --device cpu:1, --device 0, --devices 0,1."

    def add_arguments(self, parser):
        parser.add_argument("--device", action="append", default=[], help="cpu, cpu:N, or a GPU index")
        parser.add_argument("--devices", default="", help="Comma-separated GPU indexes")
        parser.add_argument("--burst", action="store_true", help="Exit when the queues are empty")

    def handle(self, *args, device, devices, burst, **options):
        names = [*device, *[d for d in devices.split(",") if d.strip()]] or ["cpu"]
        try:
            parsed = [parse_device_arg(name) for name in names]
        except ValueError as exc:
            raise CommandError(f"Cannot read the device list {names}: use cpu, cpu:N or GPU indexes") from exc
        registered = [register(kind, index) for kind, index in parsed]
        reconcile()
        queues = [get_queue(d.queue_name) for d in registered]
        self.stdout.write(
            f"worker for {', '.join(map(str, registered))} on {', '.join(q.name for q in queues)}"
        )
        stop = threading.Event()
        beat = threading.Thread(target=heartbeat_loop, args=(registered, stop), daemon=True)
        beat.start()
        try:
            SimpleWorker(queues, connection=django_rq.get_connection("default")).work(
                burst=burst, with_scheduler=False, logging_level="WARNING"
            )
        finally:
            stop.set()
            Device.objects.filter(pk__in=[d.pk for d in registered]).update(
                status=DeviceStatus.OFFLINE, heartbeat_at=None
            )
