"""The background-job runner, in NetBox's ``JobRunner`` spirit, small enough for every kind of work.

A job is a row first (a concrete subclass of :class:`BackgroundJob`), handed to RQ once the row is
committed under a fixed id (``<prefix>-<uid>``), claimed by a conditional UPDATE (``queued -> running``),
and every later write is conditional on ``running`` too, so a duplicate delivery, a second worker or a
deleted row is simply skipped. Progress and a short log are recorded on the row; a failure keeps its
traceback. :meth:`JobRunner.requeue_lost` puts back jobs whose RQ job vanished (Redis flushed, worker
killed); running again is safe because :meth:`JobRunner.execute` starts from the stored inputs.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from datetime import timedelta

import django_rq
from django.db import models, transaction
from django.utils import timezone
from redis.exceptions import RedisError
from rq.job import JobStatus as RQStatus
from rq.registry import StartedJobRegistry

logger = logging.getLogger(__name__)
ALIVE = {RQStatus.QUEUED, RQStatus.STARTED, RQStatus.DEFERRED, RQStatus.SCHEDULED}
LOG_LIMIT = 200


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class BackgroundJob(models.Model):
    """What every background job records; subclasses add what their work needs."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=12, choices=JobState.choices, default=JobState.QUEUED)
    progress = models.FloatField(default=0.0, help_text="0 to 1.")
    message = models.CharField(max_length=300, blank=True, help_text="What the job is doing or did.")
    log = models.JSONField(default=list, blank=True, help_text=f"The last {LOG_LIMIT} log lines.")
    traceback = models.TextField(blank=True, help_text="Kept when the job failed unexpectedly.")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    @property
    def finished(self) -> bool:
        return self.status in (JobState.SUCCEEDED, JobState.FAILED)


class JobFailed(Exception):
    """A failure the user can act on: recorded as the job's message, without a traceback."""


class JobRunner:
    """Subclasses set ``model``, ``prefix`` and ``task`` (the dotted module-level function RQ calls with the
    row's pk) and implement :meth:`execute`; :meth:`notify` may push each change to pages."""

    model: type[BackgroundJob]
    prefix: str
    task: str
    queue = "default"

    def __init__(self, job: BackgroundJob):
        self.job = job

    # -- enqueueing and reconciling ---------------------------------------------------------------
    @classmethod
    def rq_job_id(cls, job: BackgroundJob) -> str:
        return f"{cls.prefix}-{job.uid}"

    @classmethod
    def enqueue_on_commit(cls, job: BackgroundJob) -> None:
        transaction.on_commit(lambda: cls.enqueue(job))

    @classmethod
    def enqueue(cls, job: BackgroundJob) -> None:
        """Hand a committed job to RQ; if Redis is down, the job says so (the reconciler retries)."""
        try:
            django_rq.get_queue(cls.queue).enqueue(
                cls.task, job.pk, job_id=cls.rq_job_id(job), description=f"{cls.prefix} {job.uid}"
            )
        except RedisError as exc:
            logger.warning("could not enqueue %s %s: %s", cls.prefix, job.pk, exc)
            cls.model.objects.filter(pk=job.pk, status=JobState.QUEUED).update(
                message="Waiting: the queue is unreachable; it is retried automatically.",
                updated_at=timezone.now(),
            )

    @classmethod
    def requeue_lost(cls, stall_seconds: float) -> list[int]:
        """Queue again every job unchanged for ``stall_seconds`` whose RQ job is neither queued nor running."""
        now = timezone.now()
        stalled = cls.model.objects.filter(
            status__in=[JobState.QUEUED, JobState.RUNNING],
            updated_at__lt=now - timedelta(seconds=stall_seconds),
        )
        if not stalled.exists():
            return []
        try:
            queue = django_rq.get_queue(cls.queue)
            StartedJobRegistry(queue=queue).cleanup()
        except RedisError:
            return []
        requeued = []
        for job in stalled:
            try:
                rq_job = queue.fetch_job(cls.rq_job_id(job))
                if rq_job is not None and rq_job.get_status(refresh=True) in ALIVE:
                    continue
            except RedisError:
                return requeued
            reset = cls.model.objects.filter(pk=job.pk, status=job.status, updated_at=job.updated_at)
            if reset.update(status=JobState.QUEUED, progress=0.0, updated_at=now):
                logger.warning(
                    "%s %s was %s with no live RQ job: queued again", cls.prefix, job.pk, job.status
                )
                cls.enqueue(job)
                requeued.append(job.pk)
        return requeued

    # -- running ----------------------------------------------------------------------------------
    @classmethod
    def handle(cls, pk: int) -> str:
        """The RQ entry point: claim, execute, record the outcome. Returns the final status or ``skipped``."""
        now = timezone.now()
        claimed = cls.model.objects.filter(pk=pk, status=JobState.QUEUED).update(
            status=JobState.RUNNING, progress=0.0, started_at=now, updated_at=now, traceback=""
        )
        job = cls.model.objects.filter(pk=pk).first() if claimed else None
        if job is None:
            return "skipped"
        runner = cls(job)
        runner.notify()
        try:
            message = runner.execute() or "Done."
        except JobFailed as exc:
            return runner._finish(JobState.FAILED, str(exc))
        except Exception as exc:
            logger.exception("%s %s failed", cls.prefix, pk)
            runner._finish(
                JobState.FAILED,
                f"Failed unexpectedly ({type(exc).__name__}).",
                traceback=traceback.format_exc(),
            )
            raise
        return runner._finish(JobState.SUCCEEDED, message, progress=1.0)

    def execute(self) -> str | None:
        """Do the work; return a closing message. Raise :class:`JobFailed` for a failure the user can fix."""
        raise NotImplementedError

    def notify(self) -> None:
        """Push the job's current state to whoever follows it (best effort)."""

    def still_running(self) -> bool:
        return self.model.objects.filter(pk=self.job.pk, status=JobState.RUNNING).exists()

    def set_progress(self, fraction: float, message: str = "") -> bool:
        """Record progress (below 1 until finished); False when the job is no longer ours to run."""
        fields = {"progress": round(min(max(fraction, 0.0), 0.99), 4), "updated_at": timezone.now()}
        if message:
            fields["message"] = message[:300]
        updated = self._update(**fields)
        if updated:
            self.notify()
        return bool(updated)

    def log_line(self, line: str) -> None:
        """Append one line to the job's log (the oldest lines go once the log is full)."""
        logger.info("%s %s: %s", self.prefix, self.job.pk, line)
        self.job.log = [*self.job.log, line][-LOG_LIMIT:]
        self._update(log=self.job.log, updated_at=timezone.now())

    def _update(self, **fields) -> int:
        updated = self.model.objects.filter(pk=self.job.pk, status=JobState.RUNNING).update(**fields)
        for name, value in fields.items():
            setattr(self.job, name, value)
        return updated

    def _finish(self, status: str, message: str, **fields) -> str:
        now = timezone.now()
        done = self._update(status=status, message=message[:300], finished_at=now, updated_at=now, **fields)
        if not done:
            return "skipped"
        self.notify()
        return status
