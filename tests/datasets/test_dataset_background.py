"""Files over INLINE_INGEST_MAX_MB: stored as uploaded, then processed by a real RQ worker on real Redis."""

import gzip

import django_rq
import pytest
from rq import SimpleWorker

from datasets_app import tasks
from datasets_app.models import Dataset
from tests.datasets.dataset_support import (  # noqa: F401
    isolated_media,
    jsonl,
    raw_multipart,
    stored_files,
    upload,
)
from tests.datasets.hostile import CORPUS

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = [{"instruction": f"Question number {i}?", "output": f"Answer number {i}."} for i in range(400)]


@pytest.fixture
def background(settings):
    settings.INLINE_INGEST_MAX_MB = 0  # every non-empty file goes to the worker
    queue = django_rq.get_queue("default")
    queue.empty()  # leftovers of earlier runs are not ours to run
    return queue


def work(queue) -> None:
    SimpleWorker([queue], connection=django_rq.get_connection("default")).work(burst=True)


def test_large_upload_goes_uploaded_processing_ready_with_progress(alice_api, background, monkeypatch):
    seen = []
    original = tasks.save_progress

    def watch(dataset_id, fraction):
        original(dataset_id, fraction)
        seen.append(Dataset.objects.values_list("status", "progress").get(pk=dataset_id))

    monkeypatch.setattr(tasks, "save_progress", watch)
    monkeypatch.setattr(tasks, "PROGRESS_SECONDS", 0.0)
    monkeypatch.setattr(tasks, "PROGRESS_ROWS", 50)

    response = upload(alice_api, jsonl(ROWS), "big.jsonl")
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["num_rows"], body["progress"]) == ("uploaded", 0, 0.0)
    assert background.count == 1
    assert alice_api.get(f"/api/datasets/{body['id']}/").json()["status"] == "uploaded"

    work(background)

    assert len(seen) >= 8
    assert {status for status, _ in seen} == {"processing"}
    fractions = [fraction for _, fraction in seen]
    assert fractions == sorted(fractions) and 0 < fractions[0] < fractions[-1] <= 0.99
    detail = alice_api.get(f"/api/datasets/{body['id']}/").json()
    assert (detail["status"], detail["progress"], detail["num_rows"]) == ("ready", 1.0, 400)
    assert detail["stats"]["turns"] == 400 and len(detail["sha256"]) == 64
    preview = alice_api.get(f"/api/datasets/{body['id']}/preview/?page_size=1").json()
    assert preview["results"][0]["messages"][0]["content"] == "Question number 0?"


def test_a_refused_large_file_fails_with_its_reason_and_no_copy_of_the_data(alice_api, background):
    content = jsonl(ROWS[:5]) + b'{"instruction": "caf\xe9"}\n'
    body = upload(alice_api, content, "broken.jsonl").json()
    assert body["status"] == "uploaded"

    work(background)

    dataset = Dataset.objects.get(pk=body["id"])
    assert (dataset.status, dataset.error_code) == ("failed", "not_utf8")
    assert dataset.error_message.startswith("line 6: not valid UTF-8")
    assert not dataset.normalised_file and not dataset.original_file and dataset.num_rows == 0
    assert stored_files() == []
    assert alice_api.get(f"/api/datasets/{body['id']}/preview/").json()["results"] == []


def test_a_dataset_deleted_before_the_worker_runs_is_skipped(alice_api, background):
    body = upload(alice_api, jsonl(ROWS[:10]), "gone.jsonl").json()
    assert alice_api.delete(f"/api/datasets/{body['id']}/").status_code == 204
    work(background)
    assert not Dataset.objects.exists()
    assert stored_files() == []


def test_when_the_queue_is_unreachable_the_upload_says_so(alice_api, background, monkeypatch):
    def unreachable(name):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(django_rq, "get_queue", unreachable)
    body = upload(alice_api, jsonl(ROWS[:10])).json()
    assert (body["status"], body["error_code"]) == ("failed", "queue_unavailable")
    dataset = Dataset.objects.get(pk=body["id"])
    assert (dataset.status, dataset.error_code) == ("failed", "queue_unavailable")
    assert "upload it again" in dataset.error_message


def test_a_dataset_whose_processing_was_lost_is_queued_again(alice_api, background, settings):
    from datetime import timedelta

    from django.utils import timezone

    from datasets_app.reconcile import requeue_stalled_datasets, rq_job_id
    from gpu_workers.reconcile import reconcile

    lost_in_redis = upload(alice_api, jsonl(ROWS[:20]), "lost.jsonl").json()
    dead_worker = upload(alice_api, jsonl(ROWS[:30]), "interrupted.jsonl").json()
    background.empty()  # Redis forgot both queued jobs
    # The second one was being processed by a worker that died.
    Dataset.objects.filter(pk=dead_worker["id"]).update(status="processing", progress=0.4)
    fresh = upload(alice_api, jsonl(ROWS[:5]), "just-now.jsonl").json()  # queued a moment ago: left alone
    background.empty()

    assert requeue_stalled_datasets() == []  # not stalled yet
    long_ago = timezone.now() - timedelta(seconds=settings.DATASET_STALL_SECONDS + 1)
    Dataset.objects.filter(pk__in=[lost_in_redis["id"], dead_worker["id"]]).update(updated_at=long_ago)
    assert sorted(reconcile()["datasets"]) == sorted([lost_in_redis["id"], dead_worker["id"]])
    assert Dataset.objects.get(pk=dead_worker["id"]).status == "uploaded"
    # Queued again, and still waiting long after: their RQ jobs are alive, so they are not queued twice.
    Dataset.objects.filter(pk__in=[lost_in_redis["id"], dead_worker["id"]]).update(updated_at=long_ago)
    assert requeue_stalled_datasets() == []
    assert background.fetch_job(rq_job_id(Dataset.objects.get(pk=lost_in_redis["id"]))) is not None

    work(background)

    statuses = dict(Dataset.objects.values_list("pk", "status"))
    assert statuses[lost_in_redis["id"]] == statuses[dead_worker["id"]] == "ready"
    assert statuses[fresh["id"]] == "uploaded"
    assert Dataset.objects.get(pk=dead_worker["id"]).num_rows == 30


# One refused file of the hostile corpus per kind of refusal the worker can meet (tests/datasets/hostile.py).
BACKGROUND_REFUSALS = [
    case
    for case in CORPUS
    if case.id
    in {
        "truncated-line",
        "array-not-closed",
        "instruction-number",
        "deep-first-line",
        "huge-line",
        "nul-first-line",
        "invalid-utf8",
        "utf16le-no-bom",
        "cr-only",
        "zip-as-jsonl",
        "gzip-truncated",
        "gzip-bomb-blank-lines",
    }
]


@pytest.mark.parametrize("endpoint", ["/api/datasets/", "/api/v1/finetune/job/file"])
@pytest.mark.parametrize("case", BACKGROUND_REFUSALS, ids=lambda case: case.id)
def test_a_hostile_file_refused_in_the_background_keeps_only_the_reason(
    case, endpoint, org_a, key_client, background
):
    field = "file" if endpoint == "/api/datasets/" else "files"
    body, content_type = raw_multipart(field, case.filename, case.content)
    response = key_client(org_a).generic("POST", endpoint, body, content_type=content_type)
    assert response.status_code in (200, 201), response.json()
    assert len(stored_files()) == 1  # the original, until the worker has looked at it

    work(background)

    dataset = Dataset.objects.get()
    assert (dataset.status, dataset.error_code) == ("failed", case.code)
    assert case.says in dataset.error_message
    assert not dataset.original_file and not dataset.normalised_file
    assert stored_files() == []


def test_a_small_gzip_that_unpacks_past_the_inline_limit_goes_to_the_worker(alice_api, background, settings):
    settings.INLINE_INGEST_MAX_MB = 1
    rows = [
        {"instruction": f"Question {i} about {i * 7919 % 10007}?", "output": f"Answer {i}."}
        for i in range(30_000)
    ]
    packed = gzip.compress(jsonl(rows))
    assert len(packed) < settings.INLINE_INGEST_MAX_MB << 20 < len(jsonl(rows))
    body = upload(alice_api, packed, "many.jsonl.gz").json()
    assert body["status"] == "uploaded"  # the request stopped reading at the inline limit

    work(background)

    dataset = Dataset.objects.get(pk=body["id"])
    assert (dataset.status, dataset.num_rows) == ("ready", 30_000)
