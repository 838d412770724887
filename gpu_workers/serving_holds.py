"""GPUs shared between training and serving: an engine's GPU takes no training job, and the reverse.

The serving supervisor counts its engines on a GPU in the device row (``serving_holds``), with a
conditional UPDATE that only matches a GPU no job has leased; the scheduler leases only GPUs with no
hold. Both are UPDATEs of the same row, so one of them always sees the other: never a job and an engine
on one GPU. A GPU no worker has registered has no row: nothing can be placed there, the engine just starts.
"""

from __future__ import annotations

from django.db.models import F

from gpu_workers.live import push_devices
from gpu_workers.models import Device, DeviceKind


def _rows(host: str, index: int):
    return Device.objects.filter(host=host, kind=DeviceKind.GPU, index=index)


def hold_for_serving(host: str, index: int) -> str | None:
    """Count one more engine on GPU ``index`` of ``host``. None when held; else why it cannot be yet."""
    rows = _rows(host, index)
    if rows.filter(leased_job__isnull=True).update(serving_holds=F("serving_holds") + 1):
        push_devices(rows.values_list("pk", flat=True))
        return None
    if not rows.exists():
        return None  # no worker offers this GPU, so no job can land on it
    # The job may be another organization's: it is not named.
    return f"Waiting for GPU {index}: a training job is using it; the engine starts when it is free."


def release_for_serving(host: str, index: int) -> None:
    rows = _rows(host, index)
    if rows.filter(serving_holds__gt=0).update(serving_holds=F("serving_holds") - 1):
        push_devices(rows.values_list("pk", flat=True))


def clear_serving_holds(host: str) -> None:
    """A supervisor starting afresh holds nothing yet (it stopped what an earlier one left running)."""
    rows = Device.objects.filter(host=host, serving_holds__gt=0)
    ids = list(rows.values_list("pk", flat=True))
    if rows.update(serving_holds=0):
        push_devices(ids)
