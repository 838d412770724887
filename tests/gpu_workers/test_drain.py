"""Operators in the admin: drain a device (its job finishes, no new one starts), undrain, cancel."""

from __future__ import annotations

import pytest

from gpu_workers.models import Device
from tests.gpu_workers.support import LONG, gone, submit, trainer_pids, wait_status
from tests.workers import wait_for
from training_app.models import JobEvent, JobStatus, TrainingJob

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
DEVICES = "/admin/gpu_workers/device/"
JOBS = "/admin/training/trainingjob/"


def beats_after(device: Device, count: int) -> None:
    """Wait until the device's worker has beaten (and reconciled) ``count`` more times."""
    seen = [Device.objects.get(pk=device.pk).heartbeat_at]

    def beaten() -> bool:
        now = Device.objects.get(pk=device.pk).heartbeat_at
        if now != seen[-1]:
            seen.append(now)
        return len(seen) > count

    wait_for(beaten, timeout=30, message=f"{count} heartbeats")


def test_drain_finishes_the_running_job_and_takes_no_more(
    admin_client, workers, org_a, alice, tiny_model, qa_data
):
    worker = workers.start("cpu")
    running = submit(org_a, alice, qa_data, tiny_model, "finishes", max_steps=60)
    waiting = submit(
        org_a, alice, qa_data, tiny_model, "waits", **{**LONG, "max_steps": 5000, "save_steps": 10000}
    )
    device = Device.objects.get()
    wait_status(running.pk, [JobStatus.RUNNING])

    response = admin_client.post(DEVICES, {"action": "drain_devices", "_selected_action": [device.pk]})
    assert response.status_code == 302
    assert Device.objects.get().status == "draining"
    assert wait_status(running.pk, [JobStatus.SUCCEEDED, JobStatus.FAILED]).status == JobStatus.SUCCEEDED
    wait_for(lambda: Device.objects.get().leased_job is None, timeout=10, message="the device to be released")
    beats_after(device, 2)  # two more rounds of heartbeat and reconcile: still nothing placed
    assert Device.objects.get().status == "draining"
    assert TrainingJob.objects.get(pk=waiting.pk).placed_at is None
    page = admin_client.get(DEVICES)
    assert b"draining" in page.content

    admin_client.post(DEVICES, {"action": "undrain_devices", "_selected_action": [device.pk]})
    wait_for(
        lambda: JobEvent.objects.filter(job=waiting, type="metric").exists(),
        timeout=60,
        message="the next job",
    )
    assert Device.objects.get().status == "online"
    trainer = trainer_pids(worker)[0]
    response = admin_client.post(JOBS, {"action": "cancel", "_selected_action": [waiting.pk]})
    assert response.status_code == 302
    wait_for(
        lambda: gone(trainer) and Device.objects.get().leased_job is None,
        timeout=5,
        message="the operator's cancel to stop the trainer and free the device",
    )
    assert TrainingJob.objects.get(pk=waiting.pk).status == JobStatus.CANCELLED
