"""A disk that fills up while a job writes a checkpoint: a real ENOSPC, from a small tmpfs mounted as the
worker's WORK_DIR (the job's data, events and checkpoints all live there, as on a real worker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.utils.html import escape

from gpu_workers.models import Device
from tests.disks import fill, small_disk
from tests.gpu_workers.support import submit, wait_status
from tests.workers import wait_for
from training_app.models import JobStatus

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Room for the job's data, spec and events, not for one checkpoint of the tiny model (about 700 KB: the
# adapter and tokenizer fit, its optimizer state does not, which torch reports only as "unexpected pos").
LEFT_FREE = 480 * 1024
ENDED = [JobStatus.FAILED, JobStatus.SUCCEEDED]


@pytest.fixture
def work_disk(monkeypatch) -> Path:
    """An 8 MB tmpfs as WORK_DIR of the workers this test starts (they inherit the environment)."""
    with small_disk("8m") as disk:
        monkeypatch.setenv("WORK_DIR", str(disk))
        yield disk


def freed() -> None:
    wait_for(lambda: Device.objects.get().leased_job is None, timeout=10, message="the device to be freed")


def test_a_full_disk_fails_the_job_with_the_reason_and_frees_its_device_for_the_next(
    work_disk, workers, alice, alice_api, org_a, tiny_model, qa_data
):
    workers.start("cpu")
    filler = fill(work_disk, LEFT_FREE)
    job = submit(org_a, alice, qa_data, tiny_model, "disk-full", save_steps=2)
    failed = wait_status(job.pk, ENDED)
    reason = failed.error.partition("\n\n")[0]
    assert failed.status == JobStatus.FAILED
    assert reason.startswith("No space left on device while writing checkpoint at step 2 to "), failed.error
    assert reason.endswith("retry the job. The half-written checkpoint was deleted.")
    assert not list(work_disk.glob("jobs/*/output/checkpoint-*")), "no half checkpoint to resume from"
    assert alice_api.get(f"/api/jobs/{job.pk}/").json()["error"] == failed.error
    portal = Client()
    portal.force_login(alice)
    assert escape(reason) in portal.get(f"/training/{job.pk}/").content.decode()
    freed()

    # No room at all: the worker cannot even write the job's data, and says so.
    full = fill(work_disk, 0)
    no_room = wait_status(submit(org_a, alice, qa_data, tiny_model, "no-room").pk, ENDED)
    assert no_room.status == JobStatus.FAILED
    assert no_room.error.startswith(f"No space left on device while writing the job's data to {work_disk}/")
    assert no_room.error.endswith("Free space on that disk and retry the job."), no_room.error
    freed()

    full.unlink()
    filler.unlink()
    after = submit(org_a, alice, qa_data, tiny_model, "after-disk-full")
    assert wait_status(after.pk, ENDED).status == JobStatus.SUCCEEDED
