"""Redis holds only what the database can rebuild: flushing it loses no job; the reconciler repairs."""

from __future__ import annotations

import os
import signal

import django_rq
import pytest
import redis
from rq import SimpleWorker
from rq.job import Job

from datasets_app.models import Dataset
from datasets_app.reconcile import rq_job_id
from llm_platform import redis_embedded
from tests.datasets.dataset_support import jsonl, upload
from tests.gpu_workers.support import LONG, assert_one_job_per_device, runs, submit, wait_all_done
from tests.workers import wait_for
from training_app.models import JobEvent, JobStatus, TrainingJob

ROWS = [{"instruction": f"Question {i}?", "output": f"Answer {i}."} for i in range(50)]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def private_redis(tmp_path, settings, monkeypatch):
    """A redis-server of this test's own: FLUSHALL on a shared one would wipe other test runs' queues
    (the embedded server under var/test/ and the machine's server are both shared)."""
    settings.EMBEDDED_REDIS_DIR = tmp_path / "redis"
    redis_embedded.start()
    url = f"unix://{settings.EMBEDDED_REDIS_DIR / 'redis.sock'}?db=0"
    settings.REDIS_URL = url
    settings.RQ_QUEUES = {"default": {"URL": url, "DEFAULT_TIMEOUT": 3600}}
    settings.CHANNEL_LAYERS = {
        name: {
            **layer,
            "CONFIG": {**layer["CONFIG"], "hosts": [{**layer["CONFIG"]["hosts"][0], "address": url}]},
        }
        for name, layer in settings.CHANNEL_LAYERS.items()
    }
    monkeypatch.setenv("REDIS_URL", url)  # for the workers
    yield redis.Redis.from_url(url)
    redis_embedded.stop()


@pytest.mark.slow
def test_flushing_redis_while_jobs_wait_loses_none(private_redis, workers, org_a, alice, tiny_model, qa_data):
    worker = workers.start("cpu")
    os.killpg(worker.pid, signal.SIGSTOP)  # the worker takes nothing while the jobs are placed
    try:
        first = submit(org_a, alice, qa_data, tiny_model, "placed")
        second = submit(org_a, alice, qa_data, tiny_model, "waiting")
        first.refresh_from_db()
        token = first.rq_job_id
        assert first.placed_at is not None and Job.exists(token, connection=private_redis)
        private_redis.flushall()
        assert not Job.exists(token, connection=private_redis)
    finally:
        os.killpg(worker.pid, signal.SIGCONT)
    # The worker's reconciler finds the placement's RQ job gone and places the job again.
    jobs = wait_all_done([first.pk, second.pk], timeout=120)
    assert [j.status for j in jobs] == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED], [j.error for j in jobs]
    assert jobs[0].rq_job_id != token
    assert jobs[0].attempts == 1, "a placement that never started is not an attempt"


@pytest.mark.slow
def test_redis_flushed_and_restarted_under_a_running_job_a_queued_one_and_an_upload_loses_nothing(
    private_redis, settings, monkeypatch, workers, org_a, alice, alice_api, tiny_model, qa_data
):
    """Everything Redis held is gone at once (FLUSHALL, then a restart): the RQ job of the running run,
    the worker's registration, the queued upload. The database is the truth: the run finishes where it
    is, the waiting job runs after it, once, and the reconciler queues the upload again."""
    settings.INLINE_INGEST_MAX_MB = 0  # the upload goes to the background queue
    settings.DATASET_STALL_SECONDS = 2
    monkeypatch.setenv("DATASET_STALL_SECONDS", "2")  # the worker's reconciler requeues it
    worker = workers.start("cpu")
    running = submit(
        org_a, alice, qa_data, tiny_model, "running", **{**LONG, "max_steps": 100, "save_steps": 5}
    )
    waiting = submit(org_a, alice, qa_data, tiny_model, "waiting")
    dataset = upload(alice_api, jsonl(ROWS), "late.jsonl").json()
    assert dataset["status"] == "uploaded"
    dataset_job = rq_job_id(Dataset.objects.get(pk=dataset["id"]))
    assert Job.exists(dataset_job, connection=private_redis)
    wait_for(
        lambda: TrainingJob.objects.filter(pk=running.pk, last_checkpoint_step__gt=0).exists(),
        timeout=90,
        message="the first job to save a checkpoint",
    )
    assert TrainingJob.objects.get(pk=waiting.pk).placed_at is None, "one slot: it waits in the database"
    assert TrainingJob.objects.get(pk=running.pk).status == JobStatus.RUNNING

    private_redis.flushall()
    assert not Job.exists(dataset_job, connection=private_redis)
    redis_embedded.stop()
    redis_embedded.start()

    # The reconciler of the worker finds the upload's RQ job gone and queues it again.
    wait_for(
        lambda: Job.exists(dataset_job, connection=private_redis), timeout=60, message="the upload requeued"
    )
    SimpleWorker([django_rq.get_queue("default")], connection=private_redis).work(burst=True)
    assert Dataset.objects.get(pk=dataset["id"]).status == "ready"

    jobs = wait_all_done([running.pk, waiting.pk], timeout=180)
    assert [j.status for j in jobs] == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED], [j.error for j in jobs]
    assert [j.attempts for j in jobs] == [1, 1], "nothing ran twice"
    steps = [
        e.payload["step"]
        for e in JobEvent.objects.filter(job=running, type="metric").order_by("seq")
        if e.payload.get("loss") is not None
    ]
    assert steps == list(range(1, 101))
    assert_one_job_per_device(runs([running.pk, waiting.pk]))
    assert worker.poll() is None, "the worker rode the restart out"
