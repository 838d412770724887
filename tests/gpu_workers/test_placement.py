"""The scheduler's order and limits, on the real database and Redis, with devices but no workers:
jobs are placed (leased and enqueued) and never run, so each placement can be inspected."""

from __future__ import annotations

import pytest
from django.utils import timezone

from gpu_workers.devices import host_name
from gpu_workers.models import Device
from gpu_workers.queues import get_queue
from gpu_workers.scheduler import job_stopped
from gpu_workers.worker import register
from tests.gpu_workers.support import lease_problems, submit
from training_app import services
from training_app.models import TrainingJob

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def drop_queues():
    """Nothing consumes these queues: empty them so the shared Redis keeps no stray jobs."""
    yield
    for device in Device.objects.all():
        get_queue(device.queue_name).empty()


def placed(*jobs: TrainingJob) -> list[bool]:
    return [TrainingJob.objects.get(pk=job.pk).placed_at is not None for job in jobs]


def free(job: TrainingJob) -> None:
    """The job ends (cancelled): its slot goes to whoever is next."""
    services.cancel_job(TrainingJob.objects.get(pk=job.pk))


def gpu(box: str, index: int) -> Device:
    """A GPU row as a GPU worker registers it (this machine has no GPU to register for real)."""
    return Device.objects.create(
        host=f"{host_name()}-{box}",
        kind="gpu",
        index=index,
        name="GPU",
        memory_total_mb=81559,
        heartbeat_at=timezone.now(),
    )


def test_higher_priority_first_then_first_come_first_served(org_a, alice, tiny_model, qa_data):
    register("cpu", 0)
    blocker = submit(org_a, alice, qa_data, tiny_model, "blocker")
    early = submit(org_a, alice, qa_data, tiny_model, "early")
    urgent = services.create_job(
        org_a,
        alice,
        name="urgent",
        base_model=tiny_model,
        datasets=[services.DatasetChoice(qa_data)],
        priority=5,
    )
    late = submit(org_a, alice, qa_data, tiny_model, "late")
    assert placed(blocker, early, urgent, late) == [True, False, False, False]
    free(blocker)
    assert placed(early, urgent, late) == [False, True, False]
    free(urgent)
    assert placed(early, late) == [True, False]
    free(early)
    assert placed(late) == [True]
    assert not lease_problems()


def test_an_org_at_its_limit_holds_back_nobody_else(
    org_a, org_b, alice, charlie, tiny_model, qa_data, qa_data_b
):
    org_a.max_running_jobs = 1
    org_a.save()
    register("cpu", 0)
    register("cpu", 1)
    a1 = submit(org_a, alice, qa_data, tiny_model, "a1")
    a2 = submit(org_a, alice, qa_data, tiny_model, "a2")
    b1 = submit(org_b, charlie, qa_data_b, tiny_model, "b1")
    assert placed(a1, a2, b1) == [True, False, True]
    free(b1)
    assert placed(a2) == [False], "a free slot does not lift Acme's limit"
    free(a1)
    assert placed(a2) == [True]


def test_gpu_jobs_stay_on_one_host_respect_max_gpus_and_are_not_starved(
    org_a, org_b, alice, charlie, tiny_model, qa_data, qa_data_b
):
    gpus = [gpu("box-1", 0), gpu("box-1", 1), gpu("box-2", 0)]
    one = submit(org_b, charlie, qa_data_b, tiny_model, "one", devices="0")
    assert Device.objects.get(pk=gpus[0].pk).leased_job_id == one.pk, "explicit GPU ids are honoured"
    pair = submit(org_a, alice, qa_data, tiny_model, "pair", devices="auto:2")
    small = submit(org_a, alice, qa_data, tiny_model, "small", devices="auto")
    # box-1 has one GPU free and box-2 one: two GPUs on one host are not free, so "pair" waits, and
    # "small" waits behind it instead of taking a GPU that "pair" needs (no starvation by small jobs).
    assert placed(pair, small) == [False, False]
    job_stopped(one.pk)  # "one" ends: box-1 is free
    assert placed(pair, small) == [True, True]
    assert {d.host for d in Device.objects.filter(leased_job=pair)} == {gpus[0].host}
    assert Device.objects.get(leased_job=small).host == gpus[2].host

    org_a.max_gpus = 2
    org_a.save()
    more = submit(org_a, alice, qa_data, tiny_model, "more", devices="auto")
    free(small)  # box-2 is free, but Acme holds 2 GPUs (its limit) with "pair"
    assert placed(more) == [False]
    free(pair)
    assert placed(more) == [True]
    assert not lease_problems()


def test_a_queued_job_says_what_it_waits_for(client, alice_api, org_a, alice, tiny_model, qa_data):
    from gpu_workers.scheduler import waiting_reason

    # GPU 3's worker is offline: said on the page and in the API, not waited on silently.
    Device.objects.create(host=f"{host_name()}-old", kind="gpu", index=3, heartbeat_at=None)
    wants_gpu = submit(org_a, alice, qa_data, tiny_model, "wants-gpu-3", devices="3")
    reason = waiting_reason(wants_gpu)
    assert "No online worker offers GPU 3" in reason
    assert alice_api.get(f"/api/jobs/{wants_gpu.pk}/").json()["waiting_for"] == reason
    client.force_login(alice)
    page = client.get(f"/training/{wants_gpu.pk}/").content.decode()
    assert 'data-testid="waiting-for"' in page and "No online worker offers GPU 3" in page

    # Two GPUs on two hosts are not two GPUs on one host.
    gpu("box-a", 0)
    gpu("box-b", 0)
    two = submit(org_a, alice, qa_data, tiny_model, "wants-two", devices="auto:2")
    assert "No online worker offers 2 GPUs on one host" in waiting_reason(two)

    # Busy devices: how many queued jobs are ahead.
    register("cpu", 0)
    running = submit(org_a, alice, qa_data, tiny_model, "first")
    second = submit(org_a, alice, qa_data, tiny_model, "second")
    third = submit(org_a, alice, qa_data, tiny_model, "third")
    assert placed(running, second, third) == [True, False, False]
    assert waiting_reason(TrainingJob.objects.get(pk=running.pk)).startswith("Placed on")
    assert waiting_reason(second) == "Waiting for 1 CPU slot to be free; 0 queued jobs ahead of it."
    assert waiting_reason(third) == "Waiting for 1 CPU slot to be free; 1 queued job ahead of it."

    # The organization's quota.
    org_a.max_running_jobs = 1
    org_a.save()
    free(running)
    TrainingJob.objects.filter(pk=second.pk).update(placed_at=timezone.now(), status="running")
    assert "at its quota (1 running job)" in waiting_reason(third)

    # Not waiting at all.
    assert waiting_reason(TrainingJob.objects.get(pk=running.pk)) is None


def test_training_and_serving_never_share_a_gpu(org_a, alice, tiny_model, qa_data):
    from gpu_workers.scheduler import schedule, waiting_reason
    from serving_app import services as serving
    from serving_app.supervisor import Supervisor

    gpu0 = Device.objects.create(
        host=host_name(), kind="gpu", index=0, name="GPU", memory_total_mb=81559, heartbeat_at=timezone.now()
    )
    training = submit(org_a, alice, qa_data, tiny_model, "on-gpu-0", devices="0")
    assert placed(training) == [True]

    # An engine for GPU 0 waits while the job holds it, and says so (without naming the job).
    deployment = serving.publish(org_a, base_model=tiny_model, engine="builtin", device="0")
    engine = deployment.engine
    supervisor = Supervisor(host_name())
    supervisor.start(engine, [deployment])
    assert supervisor.running == {}
    engine.refresh_from_db()
    deployment.refresh_from_db()
    assert engine.error.startswith("Waiting for GPU 0: a training job is using it")
    assert deployment.error == engine.error and "on-gpu-0" not in engine.error

    # Once the job is gone the engine takes the GPU, and jobs wait for it instead.
    free(training)
    supervisor.start(engine, [deployment])
    try:
        assert engine.pk in supervisor.running
        gpu0.refresh_from_db()
        assert gpu0.serving_holds == 1 and gpu0.leased_job_id is None
        engine.refresh_from_db()
        assert engine.error == ""
        waiting = submit(org_a, alice, qa_data, tiny_model, "after-serving", devices="0")
        assert placed(waiting) == [False]
        assert "(1 serving published models)" in waiting_reason(waiting)
    finally:
        supervisor.shutdown()
    gpu0.refresh_from_db()
    assert gpu0.serving_holds == 0
    schedule()
    assert placed(waiting) == [True]
