"""A multi-file upload ingests outside any transaction: while one of its large files is being ingested,
the files before it are already committed, and other writers (an API key's last use, a device heartbeat,
a job event) go through at once instead of waiting for the upload to finish."""

from __future__ import annotations

import json
import random
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from datasets_app.models import Dataset
from gpu_workers.models import Device
from llm_platform.models import ApiKey
from tests.datasets.dataset_support import ALPACA, isolated_media, jsonl  # noqa: F401
from tests.workers import wait_for
from training_app.events import record_event
from training_app.models import BaseModel, JobEvent, TrainingJob

pytestmark = pytest.mark.django_db(transaction=True)
FILE_URL = "/api/v1/finetune/job/file"
LARGE_FILE_BYTES = 15 * 1024 * 1024  # inline (under INLINE_INGEST_MAX_MB), and seconds of ingest


def large_file(seed: int) -> bytes:
    rng = random.Random(seed)
    words = ["the", "model", "reads", "every", "row", "while", "others", "write", "to", "a", "database"]
    rows, size, index = [], 0, 0
    while size < LARGE_FILE_BYTES:
        text = " ".join(rng.choices(words, k=30))
        line = json.dumps({"instruction": f"{index}: {text}?", "input": "", "output": text}) + "\n"
        rows.append(line)
        size += len(line)
        index += 1
    return "".join(rows).encode()


def test_while_a_multi_file_upload_ingests_other_writers_go_through(org_a, alice, key_client, monkeypatch):
    monkeypatch.setattr(ApiKey, "LAST_USED_EVERY", 0)  # every keyed request writes last_used_at
    device = Device.objects.create(host="elsewhere", kind="cpu", index=0)
    base = BaseModel.objects.create(name="contention-base", path="/models/none")
    job = TrainingJob.objects.create(organization=org_a, name="running", base_model=base, status="running")
    keyed = key_client(org_a)
    files = [
        SimpleUploadedFile("first.jsonl", jsonl(ALPACA)),
        SimpleUploadedFile("large-1.jsonl", large_file(1)),
        SimpleUploadedFile("large-2.jsonl", large_file(2)),
    ]
    answers = []

    def upload() -> None:
        client = APIClient()
        client.force_login(alice)
        try:
            answers.append(client.post(FILE_URL, {"files": files}, format="multipart"))
        finally:
            connection.close()

    uploading = threading.Thread(target=upload)
    uploading.start()
    try:
        # Committed while the large files are still ahead: nothing holds the upload in one transaction.
        wait_for(
            lambda: Dataset.objects.filter(name="first").exists() or not uploading.is_alive(),
            timeout=60,
            message="the first file",
        )
        assert uploading.is_alive(), "the upload finished before the first file was seen"
        assert Dataset.objects.filter(name="first", status="ready").exists()

        response = keyed.get("/api/org/")
        assert response.status_code == 200, response.content
        assert ApiKey.objects.get(name="test").last_used_at is not None
        assert Device.objects.filter(pk=device.pk).update(heartbeat_at=timezone.now()) == 1
        assert record_event(job.pk, "log", {"message": "written during an upload"}).seq == 1
        assert uploading.is_alive(), "the large files were ingested before the writes: nothing was tested"
    finally:
        uploading.join(timeout=300)
    assert answers and answers[0].status_code == 200, answers and answers[0].content
    assert [item["name"] for item in answers[0].json()["data"]] == ["first", "large-1", "large-2"]
    assert JobEvent.objects.filter(job=job).count() == 1
