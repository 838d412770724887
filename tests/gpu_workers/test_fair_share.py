"""Fair share and GPU budgets, on the real database and Redis, with devices but no workers: a job placed
is given the start a runner would record, and is then ended, so the next placement can be inspected."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from gpu_workers.models import Device
from gpu_workers.queues import get_queue
from gpu_workers.scheduler import job_stopped, schedule, waiting_reason
from gpu_workers.worker import register
from llm_platform.errors import DomainError
from tests.gpu_workers.support import submit
from tests.gpu_workers.test_placement import gpu
from training_app import services
from training_app.models import JobStatus, TrainingJob

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def drop_queues():
    """Nothing consumes these queues: empty them so the shared Redis keeps no stray jobs."""
    yield
    for device in Device.objects.all():
        get_queue(device.queue_name).empty()


def run_for(job: TrainingJob, seconds: int) -> None:
    """The job ran for ``seconds`` (as its runner records the start), then ended, freeing its device."""
    TrainingJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, started_at=timezone.now() - timedelta(seconds=seconds)
    )
    services.cancel_job(TrainingJob.objects.get(pk=job.pk))
    TrainingJob.objects.filter(pk=job.pk).update(finished_at=timezone.now())
    job_stopped(job.pk)  # what the runner does when its trainer ends: free the device, place the next


def test_bursts_of_two_organizations_alternate_on_one_device(
    org_a, org_b, alice, charlie, tiny_model, qa_data, qa_data_b
):
    register("cpu", 0)
    for i in range(3):
        submit(org_a, alice, qa_data, tiny_model, f"a{i}")
    for i in range(3):  # queued after all of Acme's burst: first come, first served would run them last
        submit(org_b, charlie, qa_data_b, tiny_model, f"b{i}")
    order = []
    for step in range(6):
        job = TrainingJob.objects.get(placed_at__isnull=False, status=JobStatus.QUEUED)
        order.append(job.name)
        run_for(job, 90)
        if step == 0:  # Acme used 2 device-minutes, Globex none yet: Globex's waiting jobs come first
            assert waiting_reason(TrainingJob.objects.get(name="a1")).endswith("2 queued jobs ahead of it.")
    assert order == ["a0", "b0", "a1", "b1", "a2", "b2"]


def test_a_used_up_budget_stops_a_gpu_job_and_says_why(org_a, alice, tiny_model, qa_data):
    gpu("box", 0)
    org_a.monthly_gpu_hours = Decimal("0.02")  # 72 GPU-seconds
    org_a.save()
    first = submit(org_a, alice, qa_data, tiny_model, "first", devices="auto")
    assert TrainingJob.objects.get(pk=first.pk).placed_at is not None
    run_for(first, 100)  # now over budget
    second = submit(org_a, alice, qa_data, tiny_model, "second", devices="auto")
    second.refresh_from_db()
    assert second.placed_at is None and Device.objects.get().leased_job is None
    assert "used 0.03 of its 0.02 GPU-hour budget" in waiting_reason(second)
    cpu_job = submit(org_a, alice, qa_data, tiny_model, "on-cpu")  # the budget counts GPUs only
    assert waiting_reason(cpu_job) != waiting_reason(second)

    org_a.monthly_gpu_hours = Decimal("1")
    org_a.save()
    schedule()
    assert TrainingJob.objects.get(pk=second.pk).placed_at is not None


def test_a_zero_budget_refuses_gpu_jobs_at_create(org_a, alice, tiny_model, qa_data):
    org_a.monthly_gpu_hours = Decimal("0")
    org_a.save()
    with pytest.raises(DomainError) as refused:
        submit(org_a, alice, qa_data, tiny_model, "never", devices="auto")
    assert "GPU-hour budget" in refused.value.fields["devices"]
    assert not TrainingJob.objects.filter(name="never").exists()
    submit(org_a, alice, qa_data, tiny_model, "on-cpu")  # CPU jobs are not budgeted
