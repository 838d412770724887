"""Pushing device changes to open GPUs pages (best effort: the pages re-read the database on reload).

Every organization's pages receive these, so a payload never names a job: it says ``busy`` only. A page
that sees ``busy`` change reloads its own, tenant-scoped view of the devices to learn whose job it is.
"""

from __future__ import annotations

from django.db import transaction

from gpu_workers.models import Device
from llm_platform.consumers import notify_devices
from training_app.models import JobStatus, TrainingJob


def device_payload(device: Device) -> dict:
    alive = device.is_alive
    return {
        "type": "device.update",
        "device": device.pk,
        "status": device.status if alive else "offline",
        "alive": alive,
        "busy": device.is_busy,
        "utilization": device.utilization,
        "memory_used_mb": device.memory_used_mb,
        "memory_total_mb": device.memory_total_mb,
    }


def queue_length() -> int:
    return TrainingJob.objects.filter(status=JobStatus.QUEUED).count()


def push_devices(device_ids=None) -> None:
    """Send the current state of these devices (all when None) once the transaction commits."""
    ids = None if device_ids is None else list(device_ids)
    if ids == []:
        return

    def send():
        devices = Device.objects.all() if ids is None else Device.objects.filter(pk__in=ids)
        for device in devices:
            notify_devices(device_payload(device))

    transaction.on_commit(send)


def push_queue() -> None:
    transaction.on_commit(lambda: notify_devices({"type": "queue.update", "queue_length": queue_length()}))
