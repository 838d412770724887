"""Placing queued jobs on free devices.

Several schedulers run at once (every web process on job creation, every worker when a job ends, every
reconciler), so a placement is one transaction of conditional UPDATEs: lock the job's organization row
(its quota is checked by one placement at a time), claim the job (``placed_at IS NULL``), lease each
device (``leased_job IS NULL``). Only after the commit is the job enqueued on the RQ queue of its first
device, whose worker runs it. Nothing is double-booked: a device row holds at most one job, and the
UPDATE that leases it only matches a free one (no job, and no serving engine: gpu_workers.serving_holds).

Order: highest priority first; among equal priorities the organization that used the least device time
lately first (fair share, gpu_workers.usage.recent_usage), then first queued. A job waiting for devices of a kind holds back later
jobs of that kind (so a job wanting two GPUs is not starved by a stream of one-GPU jobs); a job waiting
for its organization's quota or GPU budget, for devices that do not exist, or for explicit GPU ids holds back nobody.
"""

from __future__ import annotations

import enum
import logging
import uuid
from datetime import timedelta

from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import RedisError

from gpu_workers import conf
from gpu_workers.capabilities import live_devices
from gpu_workers.live import push_devices, push_queue
from gpu_workers.models import Device, DeviceKind, DeviceStatus
from gpu_workers.queues import get_queue
from gpu_workers.usage import budget_left, gpu_hours_this_month, recent_usage
from llm_platform.models import Organization
from training_app.models import JobStatus, TrainingJob

logger = logging.getLogger(__name__)

RUNNER = "gpu_workers.runner.run_job"


class Placement(enum.Enum):
    PLACED = "placed"
    TAKEN = "taken"  # another scheduler placed it, or it is no longer queued
    QUOTA = "quota"  # its organization holds as many jobs or GPUs as it may
    BUDGET = "budget"  # its organization used its monthly GPU-hours
    BUSY = "busy"  # the devices it needs exist but are in use
    UNSATISFIABLE = "unsatisfiable"  # no live host has enough such devices at all


class _NoFreeDevices(Exception):
    pass


def wanted_devices(job: TrainingJob) -> tuple[str, int, list[int] | None]:
    """``(kind, count, explicit GPU indexes or None)`` from the job's ``devices`` field."""
    spec = job.devices.strip()
    if spec == "cpu":
        return DeviceKind.CPU, 1, None
    if spec.startswith("auto"):
        count = int(spec.split(":", 1)[1]) if ":" in spec else 1
        return DeviceKind.GPU, count, None
    indexes = sorted({int(part) for part in spec.split(",")})
    return DeviceKind.GPU, len(indexes), indexes


def _usable(kind: str, indexes: list[int] | None):
    devices = live_devices().filter(kind=kind, status=DeviceStatus.ONLINE, drain=False)
    return devices if indexes is None else devices.filter(index__in=indexes)


def _candidate_hosts(kind: str, count: int, indexes: list[int] | None) -> list[list[Device]]:
    """Groups of free devices on one host that can hold the job (a multi-GPU job stays on one host)."""
    by_host: dict[str, list[Device]] = {}
    free = _usable(kind, indexes).filter(leased_job__isnull=True, serving_holds=0)
    for device in free.order_by("host", "index"):
        by_host.setdefault(device.host, []).append(device)
    return [devices[:count] for devices in by_host.values() if len(devices) >= count]


def _could_ever_fit(kind: str, count: int, indexes: list[int] | None) -> bool:
    """Some live host has enough such devices, busy or not: waiting for them makes sense."""
    hosts: dict[str, int] = {}
    for host in _usable(kind, indexes).values_list("host", flat=True):
        hosts[host] = hosts.get(host, 0) + 1
    return any(n >= count for n in hosts.values())


def _over_quota(org: Organization, job: TrainingJob, kind: str, count: int) -> bool:
    if org.max_running_jobs is not None:
        placed = (
            TrainingJob.objects.filter(organization=org)
            .filter(Q(status=JobStatus.RUNNING) | Q(status=JobStatus.QUEUED, placed_at__isnull=False))
            .exclude(pk=job.pk)
        )
        if placed.count() >= org.max_running_jobs:
            return True
    if kind == DeviceKind.GPU and org.max_gpus is not None:
        held = Device.objects.filter(kind=DeviceKind.GPU, leased_job__organization=org).count()
        if held + count > org.max_gpus:
            return True
    return False


def _over_budget(org: Organization, kind: str) -> bool:
    if kind != DeviceKind.GPU:
        return False
    left = budget_left(org)
    return left is not None and left <= 0


def _lease(job: TrainingJob, devices: list[Device], token: str) -> bool:
    """Lease every device or none (a savepoint undoes a partial lease)."""
    expires = timezone.now() + timedelta(seconds=conf.lease_seconds())
    try:
        with transaction.atomic():
            for device in devices:
                free = Device.objects.filter(
                    pk=device.pk, leased_job__isnull=True, serving_holds=0, drain=False
                )
                got = free.update(leased_job=job, lease_expires_at=expires, lease_token=token)
                if not got:
                    raise _NoFreeDevices
    except _NoFreeDevices:
        return False
    return True


def _enqueue(job_id: int, devices: list[Device], token: str) -> None:
    """After the commit. If Redis is away the placement stays in the database, and the reconciler
    places the job again once it sees the RQ job missing."""
    try:
        get_queue(devices[0].queue_name).enqueue(
            RUNNER,
            job_id,
            [d.pk for d in devices],
            token,
            job_id=token,
            job_timeout=-1,
            result_ttl=3600,
            failure_ttl=86400,
        )
    except RedisError:
        logger.warning("job %s placed but not enqueued (Redis); the reconciler will retry", job_id)


def try_place(job: TrainingJob) -> Placement:
    kind, count, indexes = wanted_devices(job)
    if not _candidate_hosts(kind, count, indexes):  # a read first: a full fleet costs no writes
        return Placement.BUSY if _could_ever_fit(kind, count, indexes) else Placement.UNSATISFIABLE
    # The RQ id is chosen before enqueueing and saved with the claim, so the reconciler can always tell a
    # placement in flight from a lost one, and a runner can tell its own placement from a later one.
    token = f"train-{job.pk}-{uuid.uuid4().hex[:12]}"
    try:
        with transaction.atomic():
            org = Organization.objects.select_for_update().get(pk=job.organization_id)
            if _over_quota(org, job, kind, count):
                return Placement.QUOTA
            if _over_budget(org, kind):
                return Placement.BUDGET
            claimed = TrainingJob.objects.filter(
                pk=job.pk, status=JobStatus.QUEUED, placed_at__isnull=True
            ).update(placed_at=timezone.now(), rq_job_id=token)
            if not claimed:
                return Placement.TAKEN
            for devices in _candidate_hosts(kind, count, indexes):
                if _lease(job, devices, token):
                    break
            else:
                raise _NoFreeDevices  # taken meanwhile: roll the claim back too
            push_devices(d.pk for d in devices)
    except _NoFreeDevices:
        return Placement.BUSY
    _enqueue(job.pk, devices, token)
    logger.info("placed job %s on %s", job.pk, ", ".join(str(d) for d in devices))
    return Placement.PLACED


def _order(job: TrainingJob, usage: dict[int, int]) -> tuple:
    """Placement order: priority, then fair share (less recent device time first), then first queued."""
    return (-job.priority, usage.get(job.organization_id, 0), job.queued_at, job.pk)


def schedule_pending() -> int:
    """Place every queued job that fits, in order. Returns how many were placed."""
    placed = 0
    held_back: set[str] = set()
    queued = list(TrainingJob.objects.filter(status=JobStatus.QUEUED, placed_at__isnull=True))
    usage = recent_usage({job.organization_id for job in queued}) if queued else {}
    queued.sort(key=lambda job: _order(job, usage))
    for job in queued:
        try:
            kind, _count, indexes = wanted_devices(job)
        except ValueError:
            logger.error("job %s asks for devices %r, which cannot be read", job.pk, job.devices)
            continue
        if kind in held_back:
            continue
        result = try_place(job)
        if result is Placement.PLACED:
            placed += 1
        elif result is Placement.BUSY and indexes is None:
            held_back.add(kind)
    if placed:
        push_queue()
    return placed


def schedule(job_id: int | None = None) -> int:
    """Entry point after a job is created, retried or freed (on transaction commit). Best effort: a
    failure here leaves the job queued in the database, and every worker's reconciler places it."""
    push_queue()  # a job was added or left
    try:
        return schedule_pending()
    except (DatabaseError, RedisError):
        logger.warning("scheduling after job %s failed; the reconciler will retry", job_id, exc_info=True)
        return 0


def release_devices(job_id: int, token: str | None = None) -> int:
    """Free the devices a job holds; with ``token``, only those of that placement (a runner frees what
    it ran on, never the lease of the same job's next placement)."""
    devices = Device.objects.filter(leased_job_id=job_id)
    if token is not None:
        devices = devices.filter(lease_token=token)
    ids = list(devices.values_list("pk", flat=True))
    if not ids:
        return 0
    with transaction.atomic():
        freed = devices.filter(pk__in=ids).update(leased_job=None, lease_expires_at=None, lease_token="")
        push_devices(ids)
    return freed


def job_stopped(job_id: int, token: str | None = None) -> None:
    """A job ended (or was cancelled before it ran): free its devices and place what waits."""
    release_devices(job_id, token)
    schedule(job_id)


def _describe(kind: str, count: int, indexes: list[int] | None) -> str:
    if indexes is not None:
        return ("GPU " if count == 1 else "GPUs ") + ", ".join(str(i) for i in indexes)
    noun = "CPU slot" if kind == DeviceKind.CPU else "GPU"
    return f"{count} {noun}{'s' if count != 1 else ''}"


def placement_devices(job: TrainingJob) -> list[Device]:
    """The devices of the job's current placement; the first one's worker runs it."""
    if not job.rq_job_id:
        return []
    return list(Device.objects.filter(leased_job=job, lease_token=job.rq_job_id).order_by("host", "index"))


def lost_worker_reason(job: TrainingJob) -> str | None:
    """A running job whose worker stopped beating, in words. Read from the heartbeat, not from the job's
    status: with no worker alive, nothing requeues the job until one starts, yet its page must say so."""
    devices = placement_devices(job)
    if not devices or devices[0].is_alive:
        return None
    runner = devices[0]
    when = ""
    if runner.heartbeat_at is not None:
        when = f" {(timezone.now() - runner.heartbeat_at).total_seconds():.0f} s ago"
    lost = f"The worker on {runner.host} (device {runner.slot}) stopped answering{when}"
    if job.attempts >= conf.max_attempts():
        return (
            f"{lost}. That was attempt {job.attempts} of at most {conf.max_attempts()} (JOB_MAX_ATTEMPTS): "
            "the job is marked failed when a worker starts."
        )
    if job.last_checkpoint_step:
        return f"{lost}; the job resumes from its last checkpoint (step {job.last_checkpoint_step}) when a worker starts."
    return f"{lost}; it had saved no checkpoint yet, so the job starts over when a worker starts."


def waiting_reason(job: TrainingJob) -> str | None:
    """Why a job waits, in words for its page and API (None when it is not waiting): a queued job that
    has not started, or a running one whose worker is lost.

    Read-only: the same checks as a placement, without claiming anything.
    """
    if job.status == JobStatus.RUNNING:
        return lost_worker_reason(job)
    if job.status != JobStatus.QUEUED:
        return None
    if job.placed_at is not None:
        return f"Placed on {job.worker or 'a worker'}; starting."
    try:
        kind, count, indexes = wanted_devices(job)
    except ValueError:
        return f"Its devices {job.devices!r} cannot be read: clone it with devices 'cpu', 'auto', 'auto:N' or GPU ids."
    wanted = _describe(kind, count, indexes)
    if not _could_ever_fit(kind, count, indexes):
        where = " on one host" if count > 1 else ""
        return (
            f"No online worker offers {wanted}{where}; it starts when one comes online. "
            "To run it elsewhere, cancel it and clone it with other devices."
        )
    org = Organization.objects.get(pk=job.organization_id)
    if _over_quota(org, job, kind, count):
        limits = []
        if org.max_running_jobs is not None:
            limits.append(f"{org.max_running_jobs} running job{'s' if org.max_running_jobs != 1 else ''}")
        if kind == DeviceKind.GPU and org.max_gpus is not None:
            limits.append(f"{org.max_gpus} GPU{'s' if org.max_gpus != 1 else ''}")
        return f"Your organization is at its quota ({' and '.join(limits)}); it starts when one of its jobs ends."
    if _over_budget(org, kind):
        return (
            f"Your organization has used {gpu_hours_this_month(org)} of its {org.monthly_gpu_hours} GPU-hour "
            "budget this month; it starts next month, or when an operator raises the budget."
        )
    if not _candidate_hosts(kind, count, indexes):
        queued = TrainingJob.objects.filter(status=JobStatus.QUEUED, placed_at__isnull=True).exclude(
            pk=job.pk
        )
        usage = recent_usage({job.organization_id, *queued.values_list("organization_id", flat=True)})
        same_kind = [other for other in queued.filter(priority__gte=job.priority) if _kind_of(other) == kind]
        ahead = sum(1 for other in same_kind if _order(other, usage) < _order(job, usage)) if same_kind else 0
        serving = _usable(kind, indexes).filter(serving_holds__gt=0).count()
        note = f" ({serving} serving published models)" if serving else ""
        return f"Waiting for {wanted} to be free{note}; {ahead} queued job{'s' if ahead != 1 else ''} ahead of it."
    return "Being placed on a free device."


def _kind_of(job: TrainingJob) -> str | None:
    try:
        return wanted_devices(job)[0]
    except ValueError:
        return None
