"""Repairing Redis and leases from the database, which is the truth.

Run at every worker start and every few seconds by each worker's heartbeat thread:
- devices whose heartbeat stopped go offline;
- a running job whose devices went offline (its worker died, even by SIGKILL) is requeued to resume
  from its last checkpoint, until ``MAX_ATTEMPTS``, then failed;
- leases held by jobs that ended, or expired, are released;
- a queued job that was placed but whose RQ job is gone (Redis flushed or restarted) is placed again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from rq.exceptions import NoSuchJobError
from rq.job import Job

from gpu_workers.models import OFFLINE_AFTER_SECONDS, Device, DeviceStatus
from gpu_workers.queues import get_queue
from gpu_workers.scheduler import release_devices, schedule_pending
from llm_platform.errors import Conflict
from training_app.models import JobStatus, TrainingJob
from training_app.states import transition

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = getattr(settings, "JOB_MAX_ATTEMPTS", 3)
# A placement younger than this is still being enqueued; never judge it lost.
PLACEMENT_GRACE_SECONDS = 10


def mark_dead_devices_offline() -> int:
    cutoff = timezone.now() - timedelta(seconds=OFFLINE_AFTER_SECONDS)
    return (
        Device.objects.filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))
        .exclude(status=DeviceStatus.OFFLINE)
        .update(status=DeviceStatus.OFFLINE)
    )


def recover_orphaned_jobs() -> list[int]:
    """Running jobs none of whose devices is alive: their worker is gone."""
    recovered = []
    for job in TrainingJob.objects.filter(status=JobStatus.RUNNING):
        devices = list(Device.objects.filter(leased_job=job))
        if devices and any(d.status != DeviceStatus.OFFLINE for d in devices):
            continue
        release_devices(job.pk)
        try:
            if job.attempts >= MAX_ATTEMPTS:
                transition(
                    job,
                    JobStatus.FAILED,
                    reason="worker lost",
                    error=(
                        f"The worker running this job stopped responding {job.attempts} times; giving up."
                    ),
                )
            else:
                transition(
                    job,
                    JobStatus.QUEUED,
                    reason="worker lost; resuming from the last checkpoint",
                    placed_at=None,
                )
        except Conflict:
            continue
        recovered.append(job.pk)
    return recovered


def release_stale_leases() -> int:
    """Leases nobody renews any more (a running job's runner renews every second; a runner that is
    still stopping a cancelled job keeps its lease until it has killed the trainer)."""
    expired = Device.objects.filter(lease_expires_at__lt=timezone.now()).exclude(
        leased_job__status=JobStatus.RUNNING
    )
    return expired.update(leased_job=None, lease_expires_at=None, lease_token="")


def _rq_job_alive(job: TrainingJob) -> bool:
    if not job.rq_job_id:
        return False
    device = Device.objects.filter(leased_job=job).order_by("index").first()
    if device is None:
        return False
    queue = get_queue(device.queue_name)
    try:
        rq_job = Job.fetch(job.rq_job_id, connection=queue.connection)
    except NoSuchJobError:
        return False
    return rq_job.get_status(refresh=True) in ("queued", "started", "deferred", "scheduled")


def replace_lost_placements() -> list[int]:
    """Queued jobs the scheduler placed whose RQ job no longer exists (e.g. after FLUSHALL)."""
    lost = []
    settled = timezone.now() - timedelta(seconds=PLACEMENT_GRACE_SECONDS)
    for job in TrainingJob.objects.filter(status=JobStatus.QUEUED, placed_at__lt=settled):
        if _rq_job_alive(job):
            continue
        # Conditional on the same placement, so a job placed again meanwhile is left alone.
        unplaced = TrainingJob.objects.filter(
            pk=job.pk, status=JobStatus.QUEUED, rq_job_id=job.rq_job_id
        ).update(placed_at=None, rq_job_id="")
        if unplaced:
            release_devices(job.pk, token=job.rq_job_id)
            lost.append(job.pk)
    return lost


def reconcile() -> dict:
    report = {
        "offline": mark_dead_devices_offline(),
        "recovered": recover_orphaned_jobs(),
        "released": release_stale_leases(),
        "replaced": replace_lost_placements(),
    }
    report["placed"] = schedule_pending()
    if any(report.values()):
        logger.info("reconciled: %s", report)
    return report
