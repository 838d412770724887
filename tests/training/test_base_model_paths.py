"""Where a base model lies on the servers is for operators (staff): nobody else sees a model directory,
in the API, Bisheng's API, the portal or an error message."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.urls import reverse

from gpu_workers.recorder import EventRecorder
from tests.training.test_jobs_api import job_body
from training_app.base_models import hide_paths_in
from training_app.models import BaseModel, JobEvent

pytestmark = pytest.mark.django_db


def test_the_api_shows_the_path_to_staff_only(alice, alice_api, key_client, org_a, tiny_model):
    listed = alice_api.get("/api/base-models/").json()["results"][0]
    assert listed["name"] == "tiny-llama" and listed["path"] is None
    assert tiny_model.path not in json.dumps(key_client(org_a).get("/api/base-models/").json())
    bisheng = key_client(org_a).get("/api/v1/finetune/model/list")
    assert bisheng.json()["data"][0]["model_name"] == "tiny-llama"
    assert tiny_model.path not in bisheng.content.decode()
    alice.is_staff = True
    alice.save()
    assert alice_api.get(f"/api/base-models/{tiny_model.pk}/").json()["path"] == tiny_model.path


def test_the_portal_shows_the_path_to_staff_only(client, alice, tiny_model):
    client.force_login(alice)
    page = client.get(reverse("training:base-models")).content.decode()
    assert "tiny-llama" in page and tiny_model.path not in page and "on the servers" in page
    for url in (reverse("training:new"), reverse("datasets:upload")):
        assert tiny_model.path not in client.get(url).content.decode()
    alice.is_staff = True
    alice.save()
    assert tiny_model.path in client.get(reverse("training:base-models")).content.decode()


def test_errors_name_the_model_not_its_directory(alice_api, tiny_model, qa_dataset):
    BaseModel.objects.filter(pk=tiny_model.pk).update(
        is_valid=False, validation_error=f"Cannot load {tiny_model.path}/config.json: truncated"
    )
    response = alice_api.post("/api/jobs/", job_body(tiny_model, qa_dataset), format="json")
    assert response.status_code == 400
    message = response.json()["error"]["fields"]["base_model"]
    assert message == "tiny-llama failed validation: Cannot load tiny-llama/config.json: truncated"


def test_what_the_trainer_says_is_recorded_without_model_directories(org_a, alice, tiny_model, qa_dataset):
    from training_app import services

    job = services.create_job(
        org_a, alice, name="paths", base_model=tiny_model, datasets=[services.DatasetChoice(qa_dataset)]
    )
    notes: list[str] = []
    recorder = EventRecorder(job.pk, note=notes.append, hide=lambda value: hide_paths_in(value, tiny_model))
    other = f"{settings.MODEL_ROOTS[0]}/someone-else/tokenizer.json"
    recorder.handle(json.dumps({"type": "log", "message": f"Loading {tiny_model.path}", "level": "info"}))
    recorder.handle(json.dumps({"type": "eval", "report": {"base_model": tiny_model.path, "bleu": 1.0}}))
    recorder.handle(json.dumps({"type": "error", "reason": f"Could not load {other}", "detail": "x"}))
    recorder.handle(f'OSError: Can\'t load tokenizer for "{tiny_model.path}"')  # a traceback line
    stored = json.dumps(list(JobEvent.objects.filter(job=job).values_list("payload", flat=True)))
    assert tiny_model.path not in stored and str(settings.MODEL_ROOTS[0]) not in stored
    assert "Loading tiny-llama" in stored and "Could not load <model root>/someone-else" in stored
    job.refresh_from_db()
    assert job.report["base_model"] == "tiny-llama"
    assert notes[-1] == 'OSError: Can\'t load tokenizer for "tiny-llama"'
    assert recorder.error_reason == "Could not load <model root>/someone-else/tokenizer.json"
