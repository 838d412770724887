"""Runs that end badly: cancelled, a trainer that dies, a worker killed or frozen mid-job."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from gpu_workers.models import Device
from tests.gpu_workers.support import (
    LONG,
    gone,
    kill_group,
    runs,
    submit,
    trainer_pids,
    wait_status,
)
from tests.workers import wait_for
from training_app.base_models import register_base_model
from training_app.models import JobEvent, JobStatus, TrainingJob

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ENDLESS = {**LONG, "max_steps": 5000, "save_steps": 10000}  # only ever stopped from outside


def step_problems(steps: list[int], last: int) -> str:
    counts = {step: steps.count(step) for step in set(steps)}
    missing = sorted(set(range(1, last + 1)) - set(steps))
    twice = sorted(step for step, n in counts.items() if n > 1)
    return f"missing steps {missing}, recorded twice {twice}"


def metric_steps(job_id: int) -> list[int]:
    return [
        e.payload["step"]
        for e in JobEvent.objects.filter(job_id=job_id, type="metric").order_by("seq")
        if e.payload.get("loss") is not None
    ]


def statuses(job_id: int) -> list[str]:
    return [e.payload["to"] for e in JobEvent.objects.filter(job_id=job_id, type="status").order_by("seq")]


def training(job_id: int, worker, timeout: float = 60) -> int:
    """Wait until the job's trainer reports a step; returns the trainer's pid."""
    wait_for(
        lambda: JobEvent.objects.filter(job_id=job_id, type="metric").exists(),
        timeout=timeout,
        message=f"job {job_id} to train",
    )
    pids = trainer_pids(worker)
    assert len(pids) == 1, pids
    return pids[0]


def test_cancel_from_the_portal_or_the_api_stops_the_trainer_and_frees_the_slot_within_5_s(
    workers, org_a, alice, bob, alice_api, tiny_model, qa_data
):
    worker = workers.start("cpu")
    first = submit(org_a, alice, qa_data, tiny_model, "cancel-in-portal", **ENDLESS)
    second = submit(org_a, alice, qa_data, tiny_model, "cancel-in-api", **ENDLESS)
    device = Device.objects.get()

    trainer = training(first.pk, worker)
    portal = Client()
    portal.force_login(bob)
    assert portal.post(f"/training/{first.pk}/cancel/").status_code == 302
    wait_for(
        lambda: gone(trainer) and Device.objects.get().leased_job_id != first.pk,
        timeout=5,
        message="the trainer to stop and the slot to be freed",
    )
    assert wait_status(first.pk, [JobStatus.CANCELLED]).error == ""

    trainer = training(second.pk, worker)  # the freed slot took the next job
    assert alice_api.post(f"/api/jobs/{second.pk}/cancel/").status_code == 200
    wait_for(
        lambda: gone(trainer) and Device.objects.get(pk=device.pk).leased_job is None,
        timeout=5,
        message="the trainer to stop and the slot to be freed",
    )
    assert statuses(second.pk) == ["queued", "running", "cancelled"]


def test_a_trainer_that_dies_fails_its_job_with_the_reason_and_its_last_lines(
    workers, org_a, alice, tiny_model, tiny_model_dir, qa_data
):
    worker = workers.start("cpu")
    crashing = submit(org_a, alice, qa_data, tiny_model, "segfault", **ENDLESS)
    os.kill(training(crashing.pk, worker), signal.SIGSEGV)  # as a crash in a native library would
    crashing = wait_status(crashing.pk, [JobStatus.FAILED, JobStatus.SUCCEEDED])
    reason, _, tail = crashing.error.partition("\n\n")
    assert reason.startswith("The trainer was killed by SIGSEGV (a segmentation fault"), crashing.error
    assert tail.startswith("Last ") and "lines of trainer output:" in tail
    assert len(tail.splitlines()) <= 51
    assert JobEvent.objects.filter(job=crashing, type="log", level="error").exists()

    # A trainer that exits non-zero by itself: the model's weights were damaged after registration.
    broken_dir = Path(settings.MODEL_ROOTS[0]) / f"broken-{os.getpid()}"
    shutil.copytree(tiny_model_dir, broken_dir, dirs_exist_ok=True)
    broken = register_base_model(f"broken-{os.getpid()}", path=str(broken_dir))
    (broken_dir / "model.safetensors").write_bytes(b"not safetensors")
    try:
        failing = submit(org_a, alice, qa_data, broken, "bad-weights")
        failing = wait_status(failing.pk, [JobStatus.FAILED, JobStatus.SUCCEEDED])
    finally:
        shutil.rmtree(broken_dir, ignore_errors=True)
    reason, _, tail = failing.error.partition("\n\n")
    assert failing.status == JobStatus.FAILED
    assert "exited with code" not in reason, "the trainer's own reason is kept"
    assert reason and tail.startswith("Last ")
    wait_for(lambda: Device.objects.get().leased_job is None, timeout=10, message="the slot to be freed")


def checkpointed_after(job_id: int, step: int) -> int:
    """Wait for a checkpoint past ``step``; returns its step."""
    return wait_for(
        lambda: (
            TrainingJob.objects.filter(pk=job_id, last_checkpoint_step__gt=step)
            .values_list("last_checkpoint_step", flat=True)
            .first()
        ),
        timeout=60,
        message=f"a checkpoint after step {step}",
    )


def waits_for_a_worker(job_id: int, api, page) -> str:
    """The job's API and page both say its worker is lost (read from the heartbeat: no worker is alive to
    requeue it); returns the reason."""
    reason = wait_for(
        lambda: api.get(f"/api/jobs/{job_id}/").json()["waiting_for"],
        timeout=30,
        message="the job to say it waits for a worker",
    )
    assert api.get(f"/api/jobs/{job_id}/").json()["status"] == JobStatus.RUNNING, "nothing requeued it"
    html = page.get(f"/training/{job_id}/").content.decode()
    assert 'data-testid="waiting-for"' in html and reason in html
    return reason


def test_a_worker_stopped_then_one_killed_mid_job_each_resume_it_from_its_checkpoint(
    workers, org_a, alice, alice_api, tiny_model, qa_data
):
    job = submit(
        org_a, alice, qa_data, tiny_model, "survivor", **{**LONG, "max_steps": 300, "save_steps": 10}
    )
    worker = workers.start("cpu")
    checkpointed_after(job.pk, 0)

    # An operator stops the worker (SIGTERM): it stops the trainer, requeues the job and signs off.
    os.killpg(worker.pid, signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert wait_status(job.pk, [JobStatus.QUEUED]).placed_at is None
    device = Device.objects.get()
    assert device.status == "offline" and device.leased_job is None

    # A new worker resumes it; that one is SIGKILLed: no handler runs and no lease is released.
    worker = workers.start("cpu")
    trainer = wait_for(lambda: trainer_pids(worker), timeout=30, message="the second trainer")[0]
    checkpointed_after(job.pk, TrainingJob.objects.get(pk=job.pk).last_checkpoint_step)
    kill_group(worker)
    wait_for(lambda: gone(trainer), timeout=10, message="the orphaned trainer to die with its worker")
    steps_before = metric_steps(job.pk)

    # No worker is alive: within the offline timeout the job says it waits for one, and why.
    portal = Client()
    portal.force_login(alice)
    reason = waits_for_a_worker(job.pk, alice_api, portal)
    saved = TrainingJob.objects.get(pk=job.pk).last_checkpoint_step
    assert reason.startswith(f"The worker on {device.host} (device cpu0) stopped answering "), reason
    assert reason.endswith(f"the job resumes from its last checkpoint (step {saved}) when a worker starts.")

    workers.start("cpu")  # takes the slot over and requeues the lost run at once
    job = wait_status(job.pk, [JobStatus.SUCCEEDED, JobStatus.FAILED])
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.attempts == 3
    assert statuses(job.pk) == ["queued", "running", "queued", "running", "queued", "running", "succeeded"]
    steps = metric_steps(job.pk)
    assert steps == list(range(1, 301)), step_problems(steps, 300)
    assert steps_before[-1] < 300, "the kill came too late to test a resume"
    reasons = [
        e.payload["reason"] for e in JobEvent.objects.filter(job=job, type="status", payload__to="queued")
    ]
    assert "shutting down" in reasons[1] and "died" in reasons[2]
    assert all("resuming from the last checkpoint" in reason for reason in reasons[1:])
    logs = list(JobEvent.objects.filter(job=job, type="log").values_list("payload__message", flat=True))
    # From the checkpoint it named, or one the trainer had written as it was killed (not yet recorded).
    resumed = [int(m.rsplit("checkpoint-", 1)[1]) for m in logs if "resuming from" in m]
    assert len(resumed) == 2 and resumed[1] >= saved, (resumed, saved)


def test_a_worker_killed_for_good_is_detected_and_its_job_resumes_on_another_slot(
    workers, org_a, alice, tiny_model, qa_data
):
    """No new worker for the dead one's slot: the other worker's reconciler notices (heartbeat gone,
    lease not renewed, RQ execution abandoned: whichever comes first) and the job moves over."""
    lost = workers.start("cpu")
    workers.start("cpu:1")
    job = submit(org_a, alice, qa_data, tiny_model, "moved", **{**LONG, "max_steps": 150, "save_steps": 10})
    wait_for(
        lambda: JobEvent.objects.filter(job=job, type="checkpoint").exists(),
        timeout=60,
        message="a checkpoint",
    )
    kill_group(lost)
    wait_for(
        lambda: Device.objects.get(index=0).status == "offline",
        timeout=30,
        message="the dead worker's device to go offline",
    )
    job = wait_status(job.pk, [JobStatus.SUCCEEDED, JobStatus.FAILED])
    assert job.status == JobStatus.SUCCEEDED, job.error
    all_runs = runs([job.pk])
    assert [r.device.rsplit(":", 1)[1] for r in all_runs] == ["cpu0", "cpu1"]
    steps = metric_steps(job.pk)
    assert steps == list(range(1, 151)), step_problems(steps, 150)
    assert Device.objects.get(index=0).leased_job is None


def test_a_job_moved_to_a_host_without_its_checkpoints_resumes_from_storage(
    workers, org_a, alice, tiny_model, qa_data, settings
):
    from gpu_workers.checkpoints import storage_prefix, stored_manifest

    job = submit(org_a, alice, qa_data, tiny_model, "mover", **{**LONG, "max_steps": 1000, "save_steps": 20})
    prefix = storage_prefix(job)
    worker = workers.start("cpu")
    step = checkpointed_after(job.pk, 0)
    wait_for(
        lambda: (stored_manifest(prefix) or {}).get("step", 0) >= step,
        timeout=60,
        message="the checkpoint to reach storage",
    )
    os.killpg(worker.pid, signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    wait_status(job.pk, [JobStatus.QUEUED])
    stored = stored_manifest(prefix)["step"]
    assert step <= stored < 1000, "stopped too late to test a resume"

    # The next host has none of this job's files: only storage has its checkpoint.
    shutil.rmtree(Path(settings.WORK_DIR) / "jobs" / str(job.uid))
    workers.start("cpu")
    job = wait_status(job.pk, [JobStatus.SUCCEEDED, JobStatus.FAILED])
    assert job.status == JobStatus.SUCCEEDED, job.error
    logs = list(JobEvent.objects.filter(job=job, type="log").values_list("payload__message", flat=True))
    assert f"Fetched checkpoint-{stored} from storage: the run that wrote it was on another host." in logs
    assert any("resuming from" in m and m.endswith(f"checkpoint-{stored}") for m in logs), logs
    steps = metric_steps(job.pk)
    assert steps == list(range(1, 1001)), step_problems(steps, 1000)
    assert stored_manifest(prefix) is None, "a finished job's checkpoints are removed from storage"
