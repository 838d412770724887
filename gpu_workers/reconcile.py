"""Repairing leases and Redis from the database, which is the truth.

Runs when a worker starts, a few times per DEVICE_OFFLINE_AFTER_SECONDS (one worker of the fleet at a time),
and as ``manage.py reconcile``:

- devices whose heartbeat stopped go offline;
- a running job whose runner is gone is requeued to resume from its last checkpoint (keeping its place
  in the queue), until ``JOB_MAX_ATTEMPTS``, then failed. A runner is gone when the worker of the device
  it runs on stopped beating, when it stopped renewing its lease, when RQ moved its execution to the
  abandoned jobs, or at once when a new worker takes the device over (the old process is dead);
- leases nobody renews any more are released;
- a queued job that was placed but whose RQ job is gone (Redis flushed or restarted) or whose device
  died is placed again;
- and whatever fits is placed.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.job import JobStatus as RQStatus
from rq.registry import StartedJobRegistry

from datasets_app.knowledge.extraction import requeue_lost_extractions
from datasets_app.reconcile import requeue_stalled_datasets
from gpu_workers import conf
from gpu_workers.live import push_devices
from gpu_workers.models import Device, DeviceStatus
from gpu_workers.queues import get_queue, redis_connection
from gpu_workers.scheduler import placement_devices, release_devices, schedule_pending
from llm_platform.errors import Conflict
from training_app.models import JobStatus, TrainingJob
from training_app.states import transition

logger = logging.getLogger(__name__)

RQ_ALIVE = (RQStatus.QUEUED, RQStatus.STARTED, RQStatus.DEFERRED, RQStatus.SCHEDULED)


def mark_dead_devices_offline() -> int:
    cutoff = timezone.now() - timedelta(seconds=conf.offline_after_seconds())
    dead = Device.objects.filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)).exclude(
        status=DeviceStatus.OFFLINE
    )
    ids = list(dead.values_list("pk", flat=True))
    if not ids:
        return 0
    changed = Device.objects.filter(pk__in=ids).update(status=DeviceStatus.OFFLINE)
    push_devices(ids)
    return changed


def recover_job(job: TrainingJob, why: str) -> bool:
    """A running job lost its runner: back to the queue to resume from its last checkpoint (in its old
    place), or failed once it has had ``JOB_MAX_ATTEMPTS`` attempts. False if it changed meanwhile."""
    token, limit = job.rq_job_id, conf.max_attempts()
    same_run = {"status": JobStatus.RUNNING, "rq_job_id": token}
    try:
        if job.attempts >= limit:
            message = (
                f"{why}. This was attempt {job.attempts} of at most {limit} (JOB_MAX_ATTEMPTS); giving up."
            )
            transition(job, JobStatus.FAILED, reason="worker lost", error=message, expect=same_run)
        else:
            transition(
                job,
                JobStatus.QUEUED,
                reason=f"{why}; resuming from the last checkpoint",
                queued_at=job.queued_at,
                expect=same_run,
            )
    except Conflict:
        return False
    logger.warning("job %s: %s (attempt %s)", job.pk, why, job.attempts)
    release_devices(job.pk, token=token)
    return True


def _rq_abandoned(job: TrainingJob, runner: Device) -> bool:
    """RQ's view: the execution's heartbeat expired, so its registry cleanup marks it failed."""
    try:
        connection = redis_connection()
        StartedJobRegistry(runner.queue_name, connection=connection).cleanup()
        rq_job = Job.fetch(job.rq_job_id, connection=connection)
        return rq_job.get_status(refresh=True) == RQStatus.FAILED
    except NoSuchJobError:
        return False  # Redis flushed: RQ cannot tell; the heartbeat and the lease still can
    except RedisError:
        return False


def _lost_runner(job: TrainingJob, now) -> str | None:
    devices = placement_devices(job)
    if not devices:
        return "Its devices were released while it ran"
    runner = devices[0]
    if not runner.is_alive or runner.status == DeviceStatus.OFFLINE:
        return f"The worker of {runner} stopped responding"
    if all(d.lease_expires_at is None or d.lease_expires_at < now for d in devices):
        return f"The runner on {runner} stopped renewing its lease"
    if _rq_abandoned(job, runner):
        return f"RQ found the run on {runner} abandoned"
    return None


def recover_orphaned_jobs() -> list[int]:
    now = timezone.now()
    recovered = []
    for job in TrainingJob.objects.filter(status=JobStatus.RUNNING):
        why = _lost_runner(job, now)
        if why and recover_job(job, why):
            recovered.append(job.pk)
    return recovered


def take_over(device: Device) -> list[int]:
    """A new worker took this device over, so the process that ran jobs on it is gone: their runs are
    lost now (no need to wait for heartbeats to expire)."""
    recovered = []
    for job in TrainingJob.objects.filter(status=JobStatus.RUNNING, leased_devices=device).distinct():
        devices = placement_devices(job)
        if (
            devices
            and devices[0].pk == device.pk
            and recover_job(job, f"The worker running it on {device} died")
        ):
            recovered.append(job.pk)
    return recovered


def release_stale_leases() -> int:
    """Leases nobody renewed: their runner died after the job ended (a running job's are handled above;
    a runner still stopping a cancelled trainer keeps renewing its lease until the trainer is dead)."""
    stale = Device.objects.filter(lease_expires_at__lt=timezone.now()).exclude(
        leased_job__status=JobStatus.RUNNING
    )
    ids = list(stale.values_list("pk", flat=True))
    if not ids:
        return 0
    released = Device.objects.filter(pk__in=ids, lease_expires_at__lt=timezone.now()).update(
        leased_job=None, lease_expires_at=None, lease_token=""
    )
    push_devices(ids)
    return released


def _placement_lost(job: TrainingJob) -> bool:
    devices = placement_devices(job)
    if not devices or not devices[0].is_alive or devices[0].status == DeviceStatus.OFFLINE:
        return True
    try:
        rq_job = Job.fetch(job.rq_job_id, connection=get_queue(devices[0].queue_name).connection)
        return rq_job.get_status(refresh=True) not in RQ_ALIVE
    except NoSuchJobError:
        return True
    except RedisError:
        return False  # cannot tell now; try again at the next beat


def replace_lost_placements() -> list[int]:
    """Queued jobs the scheduler placed whose RQ job or device is gone (e.g. after FLUSHALL)."""
    lost = []
    settled = timezone.now() - timedelta(seconds=conf.placement_grace_seconds())
    for job in TrainingJob.objects.filter(status=JobStatus.QUEUED, placed_at__lt=settled):
        if not _placement_lost(job):
            continue
        # Conditional on the same placement, so a job placed again meanwhile is left alone.
        unplaced = TrainingJob.objects.filter(
            pk=job.pk, status=JobStatus.QUEUED, rq_job_id=job.rq_job_id
        ).update(placed_at=None, rq_job_id="")
        if unplaced:
            release_devices(job.pk, token=job.rq_job_id)
            lost.append(job.pk)
    return lost


def reconcile_if_due() -> dict | None:
    """The periodic run: every worker calls this, one of them reconciles per period (a Redis lock named
    after the database, which is what a fleet shares; a flushed lock only means one extra run)."""
    name = f"tuneforge:reconcile:{settings.DATABASES['default']['NAME']}"
    try:
        if not redis_connection().set(name, os.getpid(), nx=True, px=int(conf.reconcile_seconds() * 1000)):
            return None
    except RedisError:
        pass  # without Redis, reconciling is still right (and repairs what it can)
    return reconcile()


def reconcile() -> dict:
    report = {
        "offline": mark_dead_devices_offline(),
        "recovered": recover_orphaned_jobs(),
        "released": release_stale_leases(),
        "replaced": replace_lost_placements(),
        "datasets": requeue_stalled_datasets(),
        "extractions": requeue_lost_extractions(),
    }
    report["placed"] = schedule_pending()
    if any(report.values()):
        logger.info("reconciled: %s", report)
    return report
