"""Exported pairs flow into training like any upload: a Bisheng-compatible job body names the exported
dataset, and a real worker trains the tiny model on it."""

import json

import pytest

from tests.knowledge.conftest import upload_document, work
from tests.training.conftest import QA, tiny_model, tiny_model_dir  # noqa: F401 - shared fixtures
from tests.workers import wait_for
from training_app.models import JobStatus, TrainingJob

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_exported_knowledge_base_trains_through_the_bisheng_job_body(
    alice_api,
    workers,
    tiny_model,  # noqa: F811 - the shared fixture, used
    queue,
):
    kb = alice_api.post("/api/knowledge-bases/", {"name": "Trivia"}, format="json").json()
    lines = "".join(json.dumps({"question": q, "answers": [a]}, ensure_ascii=False) + "\n" for q, a in QA)
    assert upload_document(alice_api, kb["id"], lines.encode(), "trivia.jsonl").status_code == 201
    alice_api.post(f"/api/knowledge-bases/{kb['id']}/extract/", {"mode": "structured"}, format="json")
    work(queue)
    assert alice_api.post(f"/api/knowledge-bases/{kb['id']}/accept-all/", {}, format="json").json() == {
        "accepted": len(QA)
    }
    export = alice_api.post(
        f"/api/knowledge-bases/{kb['id']}/export/", {"layout": "alpaca"}, format="json"
    ).json()
    assert export["dataset"]["num_rows"] == len(QA)

    workers.start("cpu")
    body = {
        "server": 1,
        "base_model": tiny_model.pk,
        "model_name": "kb-trivia",
        "method": "lora",
        "train_data": [{"name": "trivia", "url": export["dataset"]["ref"], "num": 100}],
        "preset_data": [],
        "extra_params": {
            "gpus": "cpu",
            "max_steps": 6,
            "learning_rate": 0.003,
            "per_device_train_batch_size": 4,
            "max_seq_len": 64,
            "logging_steps": 2,
            "val_ratio": 0.25,
            "max_eval_samples": 2,
            "eval_max_new_tokens": 4,
        },
    }
    response = alice_api.post("/api/v1/finetune/job", body, format="json")
    assert response.status_code == 200 and response.json()["status_code"] == 200, response.json()
    job = wait_for(
        lambda: TrainingJob.objects.filter(
            name="kb-trivia", status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED]
        ).first(),
        timeout=300,
        message="the job to finish",
    )
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.job_datasets.get().dataset.knowledge_export.knowledge_base_id == kb["id"]
