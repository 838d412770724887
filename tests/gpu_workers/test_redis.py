"""Redis holds only what the database can rebuild: flushing it loses no job; the reconciler repairs."""

from __future__ import annotations

import os
import signal

import pytest
import redis
from rq.job import Job

from llm_platform import redis_embedded
from tests.gpu_workers.support import submit, wait_all_done
from training_app.models import JobStatus

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
        name: {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [url]}}
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
