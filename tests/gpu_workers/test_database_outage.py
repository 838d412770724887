"""A running job outlives a database its worker cannot write to for 10 seconds.

SQLite: another connection holds ``BEGIN EXCLUSIVE``. PostgreSQL: another connection locks the tables the
worker writes (jobs, events, devices) in ACCESS EXCLUSIVE mode, so even its reads wait, and cuts the
worker's connections at the start and in the middle, as a database restart would. Meanwhile the trainer
goes on writing events to its file; the runner records every one of them once the database is back.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from django.conf import settings

from gpu_workers.models import Device
from tests.db_outage import database_held
from tests.gpu_workers.support import LONG, TERMINAL, submit, wait_status
from tests.workers import wait_for
from training_app.models import JobEvent, JobStatus, TrainingJob

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
OUTAGE_SECONDS = 10
STEPS = 200
WORKER_TABLES = [TrainingJob._meta.db_table, JobEvent._meta.db_table, Device._meta.db_table]


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def written(path: Path, kind: str) -> int:
    """Events of ``kind`` the trainer wrote to its file."""
    return sum(json.loads(line).get("type") == kind for line in path.read_text().splitlines() if line.strip())


def test_a_running_job_records_every_event_and_finishes_through_a_10_s_database_outage(
    workers, org_a, alice, tiny_model, qa_data, monkeypatch
):
    # A worker whose writes wait out the outage is alive: it must not be declared dead meanwhile.
    for name in ("DEVICE_OFFLINE_AFTER_SECONDS", "DEVICE_LEASE_SECONDS"):
        monkeypatch.setenv(name, str(3 * OUTAGE_SECONDS))
        monkeypatch.setattr(settings, name, 3 * OUTAGE_SECONDS)
    worker = workers.start("cpu")
    job = submit(
        org_a,
        alice,
        qa_data,
        tiny_model,
        "through-an-outage",
        **{**LONG, "max_steps": STEPS, "save_steps": 50},
    )
    wait_for(
        lambda: JobEvent.objects.filter(job=job, type="metric").exists(), timeout=120, message="training"
    )
    events = Path(settings.WORK_DIR) / "jobs" / str(job.uid) / "events.jsonl"

    with database_held(WORKER_TABLES) as outage:
        written_before = lines(events)
        outage.cut_connections()
        time.sleep(OUTAGE_SECONDS / 2)
        outage.cut_connections()
        time.sleep(OUTAGE_SECONDS / 2)
        written_during = lines(events) - written_before

    job = wait_status(job.pk, TERMINAL, timeout=180)
    assert written_during > 0, "the trainer had finished before the outage: nothing was tested"
    assert worker.poll() is None, "the worker died"
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.attempts == 1, "the job was requeued"
    seqs = list(JobEvent.objects.filter(job=job).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)) and job.last_seq == len(seqs)
    statuses = [e.payload["to"] for e in JobEvent.objects.filter(job=job, type="status").order_by("seq")]
    assert statuses == [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED]
    steps = [
        e.payload["step"]
        for e in JobEvent.objects.filter(job=job, type="metric").order_by("seq")
        if e.payload.get("loss") is not None
    ]
    assert steps == list(range(1, STEPS + 1))
    assert (job.current_step, job.total_steps) == (STEPS, STEPS)
    for kind in ("progress", "checkpoint"):  # only the trainer writes these: each recorded once
        assert JobEvent.objects.filter(job=job, type=kind).count() == written(events, kind), kind
