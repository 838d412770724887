"""Merge-and-export of a LoRA adapter, and a fine-tuned model registered as the base of another job."""

import django_rq
import pytest
from rq import SimpleWorker

from tests.training.test_training_e2e import FAST, wait_status
from training_app.models import BaseModel, JobStatus, TrainingJob

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_merge_export_then_train_on_top_of_the_merged_model(
    workers, alice_api, charlie_api, tiny_model, qa_dataset
):
    workers.start("cpu")
    body = {
        "name": "to-merge",
        "base_model": "tiny-llama",
        "method": "lora",
        "devices": "cpu",
        "datasets": [{"dataset": str(qa_dataset.pk)}],
        "hyperparameters": {**FAST, "max_steps": 10, "eval_base_model": False},
    }
    job_id = alice_api.post("/api/jobs/", body, format="json").json()["id"]
    job = wait_status(job_id, [JobStatus.SUCCEEDED, JobStatus.FAILED])
    assert job.status == JobStatus.SUCCEEDED, job.error

    refused = alice_api.post(f"/api/jobs/{job_id}/register-base/", {"name": "tuned"}, format="json")
    assert (
        refused.status_code == 409 and "Export the merged weights first" in refused.json()["error"]["message"]
    )
    assert charlie_api.post(f"/api/jobs/{job_id}/export/").status_code == 404
    assert alice_api.post(f"/api/jobs/{job_id}/export/").status_code == 202
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    merged = {f["path"] for f in TrainingJob.objects.get(pk=job_id).artifacts["merged_files"]}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= merged
    assert alice_api.get(f"/training/{job_id}/files/merged/config.json").status_code == 200

    response = alice_api.post(f"/api/jobs/{job_id}/register-base/", {"name": "tiny-tuned"}, format="json")
    assert response.status_code == 201, response.json()
    tuned = BaseModel.objects.get(name="tiny-tuned")
    assert tuned.root_base == tiny_model and tuned.source_job_id == job_id and tuned.is_valid
    assert charlie_api.get(f"/api/base-models/{tuned.pk}/").status_code == 404

    body = {**body, "name": "second-round", "base_model": "tiny-tuned", "method": "full"}
    second = alice_api.post("/api/jobs/", body, format="json")
    assert second.status_code == 201, second.json()
    job = wait_status(second.json()["id"], [JobStatus.SUCCEEDED, JobStatus.FAILED])
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert "model.safetensors" in {f["path"] for f in job.artifacts["files"]}
