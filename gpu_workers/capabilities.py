"""What the fleet can run, read from the devices the workers registered (not from this web process)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from gpu_workers import conf
from gpu_workers.models import Device, DeviceKind, DeviceStatus


def live_devices():
    """Devices whose worker beat recently and that are not marked offline."""
    cutoff = timezone.now() - timedelta(seconds=conf.offline_after_seconds())
    return Device.objects.filter(heartbeat_at__gte=cutoff).exclude(status=DeviceStatus.OFFLINE)


def capabilities() -> dict:
    gpus = live_devices().filter(kind=DeviceKind.GPU)
    return {
        "cuda": gpus.exists(),
        "bitsandbytes": any(d.capabilities.get("bitsandbytes") for d in gpus),
        "bf16": any(d.capabilities.get("bf16") for d in gpus),
        "cpu_slots": live_devices().filter(kind=DeviceKind.CPU).count(),
    }
