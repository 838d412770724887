"""Placing queued jobs on free devices.

A job is placed in three conditional UPDATEs, so several schedulers (every web process and worker runs
one) never double-book: claim the job (``placed_at IS NULL``), lease each device
(``leased_job IS NULL``), and only then enqueue on the RQ queue of the device's worker. A job that cannot
be placed is unclaimed and waits, FIFO within its priority, until a device frees up.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from gpu_workers.capabilities import live_devices
from gpu_workers.models import Device, DeviceKind, DeviceStatus
from gpu_workers.queues import get_queue
from training_app.models import JobStatus, TrainingJob

logger = logging.getLogger(__name__)

LEASE_SECONDS = 120
RUNNER = "gpu_workers.runner.run_job"


def wanted_devices(job: TrainingJob) -> tuple[str, int, list[int] | None]:
    """``(kind, count, explicit GPU indexes or None)`` from the job's ``devices`` field."""
    spec = job.devices
    if spec == "cpu":
        return DeviceKind.CPU, 1, None
    if spec.startswith("auto"):
        count = int(spec.split(":", 1)[1]) if ":" in spec else 1
        return DeviceKind.GPU, count, None
    indexes = [int(part) for part in spec.split(",")]
    return DeviceKind.GPU, len(indexes), indexes


def _org_over_quota(job: TrainingJob, count: int, kind: str) -> bool:
    org = job.organization
    if org.max_running_jobs is None and org.max_gpus is None:
        return False
    placed = (
        TrainingJob.objects.filter(organization=org)
        .filter(Q(status=JobStatus.RUNNING) | Q(status=JobStatus.QUEUED, placed_at__isnull=False))
        .exclude(pk=job.pk)
    )
    if org.max_running_jobs is not None and placed.count() >= org.max_running_jobs:
        return True
    if kind == DeviceKind.GPU and org.max_gpus is not None:
        held = Device.objects.filter(kind=DeviceKind.GPU, leased_job__organization=org).count()
        if held + count > org.max_gpus:
            return True
    return False


def _free_devices(kind: str, indexes: list[int] | None):
    devices = live_devices().filter(
        kind=kind, status=DeviceStatus.ONLINE, drain=False, leased_job__isnull=True
    )
    if indexes is not None:
        devices = devices.filter(index__in=indexes)
    return devices.order_by("host", "index")


def _candidate_hosts(kind: str, count: int, indexes: list[int] | None) -> list[list[Device]]:
    """Groups of free devices on one host that can hold the job (a multi-GPU job stays on one host)."""
    by_host: dict[str, list[Device]] = {}
    for device in _free_devices(kind, indexes):
        by_host.setdefault(device.host, []).append(device)
    return [devices[:count] for devices in by_host.values() if len(devices) >= count]


def _lease(job: TrainingJob, devices: list[Device], token: str) -> bool:
    expires = timezone.now() + timedelta(seconds=LEASE_SECONDS)
    for device in devices:
        got = Device.objects.filter(pk=device.pk, leased_job__isnull=True, drain=False).update(
            leased_job=job, lease_expires_at=expires, lease_token=token
        )
        if not got:
            release_devices(job.pk, token=token)
            return False
    return True


def try_place(job: TrainingJob) -> bool:
    kind, count, indexes = wanted_devices(job)
    if _org_over_quota(job, count, kind):
        return False
    # The RQ id is chosen before enqueueing and saved with the claim, so the reconciler can always tell a
    # placement in flight from a lost one.
    rq_job_id = f"train-{job.pk}-{uuid.uuid4().hex[:12]}"
    claimed = TrainingJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED, placed_at__isnull=True).update(
        placed_at=timezone.now(), rq_job_id=rq_job_id
    )
    if not claimed:
        return False
    for devices in _candidate_hosts(kind, count, indexes):
        if _lease(job, devices, rq_job_id):
            get_queue(devices[0].queue_name).enqueue(
                RUNNER,
                job.pk,
                [d.pk for d in devices],
                rq_job_id,
                job_id=rq_job_id,
                job_timeout=-1,
                result_ttl=3600,
                failure_ttl=86400,
            )
            logger.info("placed job %s on %s", job.pk, ", ".join(str(d) for d in devices))
            return True
    TrainingJob.objects.filter(pk=job.pk, rq_job_id=rq_job_id, status=JobStatus.QUEUED).update(
        placed_at=None, rq_job_id=""
    )
    return False


def schedule_pending() -> int:
    """Place every queued job that fits, highest priority first, then oldest first. Returns how many."""
    placed = 0
    queued = TrainingJob.objects.filter(status=JobStatus.QUEUED, placed_at__isnull=True).select_related(
        "organization"
    )
    for job in queued.order_by("-priority", "queued_at", "pk"):
        if try_place(job):
            placed += 1
    return placed


def schedule(job_id: int | None = None) -> int:
    """Entry point after a job is created or retried (called on transaction commit)."""
    return schedule_pending()


def release_devices(job_id: int, token: str | None = None) -> int:
    """Free the devices a job holds; with ``token``, only those of that placement (a runner frees what
    it ran on, never the lease of the same job's next placement)."""
    devices = Device.objects.filter(leased_job_id=job_id)
    if token is not None:
        devices = devices.filter(lease_token=token)
    with transaction.atomic():
        return devices.update(leased_job=None, lease_expires_at=None, lease_token="")


def job_stopped(job_id: int, token: str | None = None) -> None:
    """A job ended (or was cancelled before it ran): free its devices and place what waits."""
    release_devices(job_id, token)
    schedule_pending()


def queue_length() -> int:
    return TrainingJob.objects.filter(status=JobStatus.QUEUED).count()
