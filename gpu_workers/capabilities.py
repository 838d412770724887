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


def registered_gpus() -> dict[str, list[int]]:
    """GPU indexes by host, of every GPU a worker ever registered (online or not): what a job may name.
    An offline GPU counts: its worker may come back, and the job then waits for it, saying so."""
    fleet: dict[str, list[int]] = {}
    rows = Device.objects.filter(kind=DeviceKind.GPU).order_by("host", "index").values_list("host", "index")
    for host, index in rows:
        fleet.setdefault(host, []).append(index)
    return fleet


def explicit_gpus_problem(indexes: list[int]) -> str | None:
    """Why a job asking for these GPU ids could never be placed, in words that list what exists; None
    when some host has them all."""
    fleet = registered_gpus()
    if not fleet:
        return (
            "there is no GPU in the fleet (no worker has registered one): use 'cpu', or start a worker with"
            " 'manage.py gpuworker --device 0' first"
        )
    known = "; ".join(f"{host}: {', '.join(map(str, gpus))}" for host, gpus in fleet.items())
    every = {index for gpus in fleet.values() for index in gpus}
    unknown = [index for index in indexes if index not in every]
    if unknown:
        noun = "GPU" if len(unknown) == 1 else "GPUs"
        return f"no {noun} {', '.join(map(str, unknown))} in the fleet; known GPUs ({known})"
    if not any(set(indexes) <= set(gpus) for gpus in fleet.values()):
        return f"GPUs {', '.join(map(str, indexes))} are not on one host (a job runs on one host); known GPUs ({known})"
    return None
