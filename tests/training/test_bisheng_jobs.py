"""The Bisheng-compatible fine-tune API, driven the way Bisheng's front end and scripts drive it."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.training.conftest import QA
from tests.workers import wait_for
from training_app.models import TrainingJob

pytestmark = pytest.mark.django_db(transaction=True)


def upload_dataset(client) -> dict:
    rows = [{"instruction": f"{q} ({i})", "input": "", "output": a} for i in range(4) for q, a in QA]
    body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    response = client.post(
        "/api/v1/finetune/job/file", {"files": SimpleUploadedFile("custom.jsonl", body)}, format="multipart"
    )
    assert response.status_code == 200, response.content
    item = response.json()["data"][0]
    assert item["num"] == len(rows) and item["url"].startswith("dataset://")
    return item


def seed_body(item, base_model) -> dict:
    """Seed 000's example body, as Bisheng sends it (server is ignored: we schedule ourselves)."""
    return {
        "server": 1,
        "base_model": base_model,
        "model_name": "my-custom-model",
        "method": "lora",
        "train_data": [{"name": "custom-dataset", "url": item["url"], "num": 1000}],
        "preset_data": [],
        "extra_params": {
            "gpus": "cpu",
            "learning_rate": 0.003,
            "num_train_epochs": 5,
            "val_ratio": 0.1,
            "per_device_train_batch_size": 1,
            "max_seq_len": 8192,
            "cpu_load": "false",
            "max_steps": 30,
            "logging_steps": 2,
            "gradient_accumulation_steps": 1,
            "lr_scheduler_type": "constant",
            "max_eval_samples": 3,
            "eval_max_new_tokens": 8,
        },
    }


@pytest.mark.slow
def test_seed_example_body_trains_to_status_4_with_falling_loss_and_a_report(
    workers, key_client, org_a, tiny_model
):
    workers.start("cpu")
    client = key_client(org_a)
    item = upload_dataset(client)
    response = client.post("/api/v1/finetune/job", seed_body(item, tiny_model.pk), format="json")
    assert response.status_code == 200, response.json()
    created = response.json()
    assert created["status_code"] == 200 and created["data"]["status"] == 1
    job_id = created["data"]["id"]

    def info():
        data = client.get(f"/api/v1/finetune/job/info?job_id={job_id}").json()["data"]
        return data if data["finetune"]["status"] != 1 else None

    data = wait_for(info, timeout=300, message="the job to finish")
    assert data["finetune"]["status"] == 4, data["finetune"]["reason"]
    losses = [point["loss"] for point in data["loss_data"]]
    assert len(losses) >= 5 and losses[-1] < losses[0]
    steps = [point["step"] for point in data["loss_data"]]
    assert steps == sorted(steps)
    for name in ["predict_bleu-4", "predict_rouge-1", "predict_rouge-2", "predict_rouge-l"]:
        assert name in data["report"]
    assert "status → succeeded" in data["log"] or "-> succeeded" in data["log"]
    listed = client.get("/api/v1/finetune/job?status=4&model_name=custom").json()["data"]
    assert listed["total"] == 1 and listed["data"][0]["id"] == job_id


def test_base_model_by_name_and_job_listing_filters(key_client, org_a, tiny_model):
    client = key_client(org_a)
    item = upload_dataset(client)
    body = seed_body(item, "tiny-llama")
    body["extra_params"]["gpus"] = "auto"
    response = client.post("/api/v1/finetune/job", body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["data"]["extra_params"]["gpus"] == "auto"
    assert client.get("/api/v1/finetune/job?status=1").json()["data"]["total"] == 1
    assert client.get("/api/v1/finetune/job?status=2,3").json()["data"]["total"] == 0
    bad = client.get("/api/v1/finetune/job?status=9")
    assert bad.status_code == 400 and bad.json()["status_code"] == 400
    models = client.get("/api/v1/finetune/model/list").json()["data"]
    assert [m["model_name"] for m in models] == ["tiny-llama"]


def test_cancel_retry_rename_delete_in_the_envelope(key_client, org_a, tiny_model):
    client = key_client(org_a)
    item = upload_dataset(client)
    body = seed_body(item, tiny_model.pk)
    body["extra_params"]["gpus"] = "auto"  # no GPU worker here: the job waits in the queue
    job_id = client.post("/api/v1/finetune/job", body, format="json").json()["data"]["id"]

    cancelled = client.post(f"/api/v1/finetune/job/cancel?job_id={job_id}").json()
    assert cancelled["data"]["status"] == 3
    again = client.post(f"/api/v1/finetune/job/cancel?job_id={job_id}")
    assert again.status_code == 409
    assert again.json()["status_code"] == 409 and "Cannot cancel" in again.json()["status_message"]
    assert client.post(f"/api/v1/finetune/job/retry?job_id={job_id}").json()["data"]["status"] == 1
    renamed = client.patch(
        "/api/v1/finetune/job/model", {"id": job_id, "model_name": "renamed"}, format="json"
    )
    assert renamed.json()["data"]["model_name"] == "renamed"
    busy = client.delete(f"/api/v1/finetune/job?job_id={job_id}")
    assert busy.status_code == 409
    client.post(f"/api/v1/finetune/job/cancel?job_id={job_id}")
    assert client.delete(f"/api/v1/finetune/job?job_id={job_id}").json()["status_code"] == 200
    assert not TrainingJob.objects.exists()


def test_bad_bodies_are_400_in_the_envelope(key_client, org_a, tiny_model):
    client = key_client(org_a)
    item = upload_dataset(client)
    body = seed_body(item, tiny_model.pk)
    body["extra_params"]["learning_rate"] = 5
    response = client.post("/api/v1/finetune/job", body, format="json")
    assert response.status_code == 400
    assert response.json()["status_code"] == 400 and "learning_rate" in response.json()["status_message"]
    body = seed_body({"url": "dataset://00000000-0000-0000-0000-000000000000"}, tiny_model.pk)
    response = client.post("/api/v1/finetune/job", body, format="json")
    assert response.status_code == 400 and "train_data[0].url" in response.json()["data"]
    response = client.post("/api/v1/finetune/job", {"model_name": "x"}, format="json")
    assert response.status_code == 400 and "base_model" in response.json()["status_message"]
    assert not TrainingJob.objects.exists()


def test_outsiders_get_404_on_every_job_endpoint(key_client, org_a, org_b, tiny_model):
    client = key_client(org_a)
    item = upload_dataset(client)
    body = seed_body(item, tiny_model.pk)
    body["extra_params"]["gpus"] = "auto"
    job_id = client.post("/api/v1/finetune/job", body, format="json").json()["data"]["id"]
    outsider = key_client(org_b)
    for method, url in [
        ("get", f"/api/v1/finetune/job/info?job_id={job_id}"),
        ("post", f"/api/v1/finetune/job/cancel?job_id={job_id}"),
        ("post", f"/api/v1/finetune/job/retry?job_id={job_id}"),
        ("delete", f"/api/v1/finetune/job?job_id={job_id}"),
    ]:
        response = getattr(outsider, method)(url)
        assert response.status_code == 404, (method, url, response.status_code)
        assert response.json()["status_code"] == 404
    response = outsider.patch("/api/v1/finetune/job/model", {"id": job_id, "model_name": "x"}, format="json")
    assert response.status_code == 404
    assert outsider.get("/api/v1/finetune/job").json()["data"]["total"] == 0
    # and a dataset of org A cannot be trained on by org B
    response = outsider.post("/api/v1/finetune/job", seed_body(item, tiny_model.pk), format="json")
    assert response.status_code == 400
    assert TrainingJob.objects.get().status == "queued"
    anonymous = outsider.__class__()
    assert anonymous.get("/api/v1/finetune/job").status_code == 401
