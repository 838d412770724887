"""Placement on real workers: one job per device at a time, parallel on two, FIFO, per-org limits."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from gpu_workers.models import Device
from llm_platform.errors import Conflict
from tests.gpu_workers.support import (
    assert_one_job_per_device,
    lease_problems,
    runs,
    start_multi,
    submit,
    wait_all_done,
)
from tests.workers import wait_for
from training_app import services
from training_app.models import JobStatus, TrainingJob

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_two_jobs_on_one_slot_run_one_after_the_other(workers, org_a, alice, tiny_model, qa_data):
    workers.start("cpu")
    first = submit(org_a, alice, qa_data, tiny_model, "first")
    second = submit(org_a, alice, qa_data, tiny_model, "second")
    jobs = wait_all_done([first.pk, second.pk])
    assert [j.status for j in jobs] == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED], [j.error for j in jobs]
    a, b = sorted(runs([first.pk, second.pk]), key=lambda r: r.start)
    assert (a.job, b.job) == (first.pk, second.pk), "the first job submitted ran first"
    assert a.device == b.device
    assert a.end <= b.start, "the second job started before the first one ended"
    wait_for(lambda: Device.objects.get().leased_job is None, timeout=10, message="the slot to be freed")


def test_two_slots_run_jobs_in_parallel_within_each_orgs_limit(
    workers, org_a, org_b, alice, charlie, tiny_model, qa_data, qa_data_b
):
    """One ``gpuworker --device cpu --device cpu:1`` serves two slots. Acme may run one job at a time:
    its second job waits although a slot is free, while Globex's job uses that slot meanwhile."""
    org_a.max_running_jobs = 1
    org_a.save()
    start_multi(workers, ["cpu", "cpu:1"])
    a1 = submit(org_a, alice, qa_data, tiny_model, "a1")
    a2 = submit(org_a, alice, qa_data, tiny_model, "a2")
    b1 = submit(org_b, charlie, qa_data_b, tiny_model, "b1")
    jobs = wait_all_done([a1.pk, a2.pk, b1.pk])
    assert {j.status for j in jobs} == {JobStatus.SUCCEEDED}, [j.error for j in jobs]
    by_job = {r.job: r for r in runs([a1.pk, a2.pk, b1.pk])}
    assert by_job[a1.pk].overlaps(by_job[b1.pk]), "two slots ran one job at a time"
    assert by_job[a1.pk].device != by_job[b1.pk].device
    assert not by_job[a1.pk].overlaps(by_job[a2.pk]), "Acme ran two jobs at once over its limit of one"
    assert_one_job_per_device(list(by_job.values()))


def test_twenty_concurrent_submits_never_double_book_a_slot(workers, org_a, alice, tiny_model, qa_data):
    start_multi(workers, ["cpu", "cpu:1"])
    jobs: list[TrainingJob] = []
    errors: list[BaseException] = []

    def submit_one(n: int) -> None:
        try:
            jobs.append(submit(org_a, alice, qa_data, tiny_model, f"burst-{n}"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit_one, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    ids = [j.pk for j in jobs]
    assert len(ids) == 20
    leased = list(Device.objects.exclude(leased_job=None).values_list("leased_job", flat=True))
    assert len(leased) == len(set(leased)) <= 2
    assert not lease_problems()

    # Let two rounds run (the invariant checked all along), then cancel what still waits.
    seen: list[str] = []

    def two_rounds_done() -> bool:
        seen.extend(lease_problems())
        return TrainingJob.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count() >= 4

    wait_for(two_rounds_done, timeout=120, message="four jobs to succeed")
    for job in TrainingJob.objects.filter(pk__in=ids, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]):
        try:
            services.cancel_job(job)
        except Conflict:
            pass  # it finished meanwhile
    finished = wait_all_done(ids, timeout=60)
    assert not seen, seen
    wait_for(lambda: not Device.objects.exclude(leased_job=None).exists(), timeout=10, message="slots freed")
    all_runs = runs(ids)
    assert len(all_runs) >= 4
    assert_one_job_per_device(all_runs)
    assert sum(j.status == JobStatus.SUCCEEDED for j in finished) >= 4
