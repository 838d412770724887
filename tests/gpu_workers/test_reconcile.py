"""The reconciler on its own (no worker up): what ``manage.py reconcile`` repairs, and how often a job
whose worker was lost is given another attempt."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from rq.job import Job

from gpu_workers.models import Device
from gpu_workers.queues import get_queue, redis_connection
from gpu_workers.reconcile import reconcile
from gpu_workers.scheduler import waiting_reason
from gpu_workers.worker import register
from tests.gpu_workers.support import submit
from training_app.models import JobStatus, TrainingJob
from training_app.states import transition

pytestmark = pytest.mark.django_db(transaction=True)
LONG_AGO = timedelta(minutes=5)


@pytest.fixture
def slot():
    """A CPU slot registered as a worker registers it (from this process; nothing consumes its queue)."""
    device, _ = register("cpu", 0)
    yield device
    get_queue(device.queue_name).empty()


def started(job: TrainingJob, attempts: int) -> TrainingJob:
    """What a runner does first: the placement's job becomes running (its ``attempts``-th start)."""
    job.refresh_from_db()
    return transition(job, JobStatus.RUNNING, attempts=attempts, expect={"rq_job_id": job.rq_job_id})


def worker_dies(device: Device) -> None:
    Device.objects.filter(pk=device.pk).update(heartbeat_at=timezone.now() - LONG_AGO)


def test_manage_reconcile_frees_a_dead_workers_device_and_places_its_job_again(
    slot, org_a, alice, tiny_model, qa_data
):
    """The operator's command, with no worker up: a device whose worker vanished goes offline, its
    placed job is unplaced (its RQ job was lost with Redis) and waits for a live device."""
    job = submit(org_a, alice, qa_data, tiny_model, "stranded")
    job.refresh_from_db()
    assert Device.objects.get().leased_job_id == job.pk
    Job.fetch(job.rq_job_id, connection=redis_connection()).delete()  # lost with Redis
    worker_dies(slot)  # its worker stopped beating five minutes ago
    TrainingJob.objects.filter(pk=job.pk).update(placed_at=timezone.now() - LONG_AGO)

    out = StringIO()
    call_command("reconcile", stdout=out)
    assert "devices marked offline: 1" in out.getvalue()
    assert f"queued jobs placed again (RQ job or device lost): [{job.pk}]" in out.getvalue()
    slot.refresh_from_db()
    job.refresh_from_db()
    assert slot.status == "offline" and slot.leased_job is None
    assert job.status == JobStatus.QUEUED and job.placed_at is None and job.rq_job_id == ""


def test_a_lost_run_is_requeued_in_its_old_place_until_job_max_attempts_then_failed(
    slot, settings, org_a, alice, tiny_model, qa_data
):
    settings.JOB_MAX_ATTEMPTS = 2
    job = submit(org_a, alice, qa_data, tiny_model, "unlucky")
    later = submit(org_a, alice, qa_data, tiny_model, "later")
    queued_at = TrainingJob.objects.get(pk=job.pk).queued_at
    started(job, attempts=1)
    worker_dies(slot)
    assert reconcile()["recovered"] == [job.pk]
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.queued_at == queued_at, "it keeps its place in the queue"
    assert Device.objects.get().leased_job is None

    register("cpu", 0)  # the worker is back: the job, first in line, is placed before "later"
    assert reconcile()["placed"] == 1
    assert Device.objects.get().leased_job_id == job.pk
    started(job, attempts=2)
    worker_dies(slot)
    assert reconcile()["recovered"] == [job.pk]
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error.endswith("This was attempt 2 of at most 2 (JOB_MAX_ATTEMPTS); giving up.")
    assert TrainingJob.objects.get(pk=later.pk).status == JobStatus.QUEUED


def test_a_running_job_whose_worker_is_gone_says_so_until_reconcile_if_due_requeues_it(
    slot, settings, org_a, alice, alice_api, tiny_model, qa_data
):
    """What ``manage.py up`` runs every heartbeat: with no worker alive, it is what moves the job on."""
    job = started(submit(org_a, alice, qa_data, tiny_model, "orphan"), attempts=1)
    TrainingJob.objects.filter(pk=job.pk).update(last_checkpoint_step=40)
    assert alice_api.get(f"/api/jobs/{job.pk}/").json()["waiting_for"] is None, "its worker still beats"
    worker_dies(slot)
    reason = alice_api.get(f"/api/jobs/{job.pk}/").json()["waiting_for"]
    assert reason.startswith(f"The worker on {slot.host} (device cpu0) stopped answering 30"), reason
    assert reason.endswith("; the job resumes from its last checkpoint (step 40) when a worker starts.")
    settings.JOB_MAX_ATTEMPTS = 1
    assert "That was attempt 1 of at most 1 (JOB_MAX_ATTEMPTS): the job is marked failed" in waiting_reason(
        job
    )
    settings.JOB_MAX_ATTEMPTS = 3

    redis_connection().delete(f"tuneforge:reconcile:{settings.DATABASES['default']['NAME']}")
    out = StringIO()
    call_command("reconcile", "--if-due", stdout=out)
    assert f"running jobs requeued or failed (worker lost): [{job.pk}]" in out.getvalue()
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    out = StringIO()
    call_command("reconcile", "--if-due", stdout=out)
    assert out.getvalue() == "", "silent when nothing was repaired"
