"""Sane bounds: every hyperparameter has a range, a run that is absurd for its data is refused, and GPU
ids are checked against the fleet, alike through the portal form, our API and Bisheng's API."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from datasets_app.models import Dataset
from gpu_workers.models import Device
from tests.training.test_jobs_api import job_body
from training_app.models import TrainingJob
from training_app.trainer.limits import BOUNDS, MAX_TOTAL_STEPS

pytestmark = pytest.mark.django_db

HUGE = 10**9


def api(client, tiny_model, dataset, devices="cpu", **hp) -> tuple[int, dict]:
    body = job_body(tiny_model, dataset, hyperparameters={"learning_rate": 1e-3, **hp}, devices=devices)
    response = client.post("/api/jobs/", body, format="json")
    return response.status_code, response.json()


def bisheng(client, tiny_model, dataset, gpus="cpu", **hp) -> tuple[int, dict]:
    body = {
        "base_model": tiny_model.name,
        "model_name": "bisheng-run",
        "train_data": [{"url": f"dataset://{dataset.uid}"}],
        "extra_params": {"gpus": gpus, **hp},
    }
    response = client.post("/api/v1/finetune/job", body, format="json")
    return response.status_code, response.json()


def portal(client, tiny_model, dataset, devices="cpu", **hp) -> tuple[int, str]:
    data = {
        "name": "from-form",
        "base_model": tiny_model.pk,
        "stage": "sft",
        "method": "lora",
        "devices": devices,
        "seed": 42,
        f"ds_{dataset.pk}_use": "1",
        **{f"hp_{name}": str(value) for name, value in hp.items()},
    }
    response = client.post(reverse("training:new"), data)
    return response.status_code, response.content.decode()


@pytest.mark.parametrize(
    "field",
    [
        "num_train_epochs",
        "max_seq_len",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "lora_rank",
        "save_steps",
        "logging_steps",
    ],
)
def test_a_billion_is_refused_naming_the_field_and_its_range(alice_api, tiny_model, qa_dataset, field):
    status, body = api(alice_api, tiny_model, qa_dataset, **{field: HUGE})
    assert status == 400
    assert body["error"]["fields"][field] == f"must be {BOUNDS[field].words()}"
    assert not TrainingJob.objects.exists()


def test_the_ranges_are_documented_next_to_each_field(client, alice, alice_api):
    client.force_login(alice)
    page = client.get(reverse("training:new")).content.decode()
    assert "Allowed: from 1 to 1024." in page  # per_device_train_batch_size, lora_rank, ...
    assert 'name="hp_num_train_epochs"' in page and 'max="100"' in page
    schema = alice_api.get("/api/schema/?format=json").json()
    described = schema["components"]["schemas"]["JobCreate"]["properties"]["hyperparameters"]["description"]
    assert "num_train_epochs: How many passes" in described and "at most 100" in described
    assert f"{MAX_TOTAL_STEPS:,} optimizer steps" in described


@pytest.fixture
def big_dataset(qa_dataset) -> Dataset:
    """Ten million rows, as the dataset's stats would say (the estimate reads the row count only)."""
    Dataset.objects.filter(pk=qa_dataset.pk).update(num_rows=10_000_000)
    qa_dataset.refresh_from_db()
    return qa_dataset


def test_a_run_too_long_for_its_data_is_refused_by_every_front_end(
    client, alice, alice_api, key_client, org_a, tiny_model, big_dataset
):
    # (10,000,000 rows - 200 held out for evaluation by default) x 3 epochs / (2 x 8) = 1,874,963 steps:
    # above the cap, and the same count from every front end.
    status, body = api(alice_api, tiny_model, big_dataset)
    assert status == 400
    message = body["error"]["fields"]["num_train_epochs"]
    assert "1,874,963 optimizer steps" in message and "9,999,800 rows x 3 epochs / (2 batch" in message

    status, body = bisheng(key_client(org_a), tiny_model, big_dataset)
    assert status == 400 and body["status_code"] == 400
    assert "1,874,963 optimizer steps" in body["data"]["num_train_epochs"]

    client.force_login(alice)
    status, page = portal(client, tiny_model, big_dataset, hp_num_train_epochs=3, do_eval_generation="on")
    assert status == 200 and "1,874,963 optimizer steps" in page
    assert not TrainingJob.objects.exists()

    # Bigger batches make the same data a sane run.
    status, body = api(alice_api, tiny_model, big_dataset, per_device_train_batch_size=8)
    assert status == 201, body


@pytest.mark.parametrize(
    ("hp", "field", "words"),
    [
        ({"max_steps": 100_000, "save_steps": 1}, "save_steps", "100,000 checkpoints"),
        (
            {"max_steps": 100_000, "eval_steps": 5, "eval_strategy": "steps", "val_ratio": 0.1},
            "eval_steps",
            "20,000 evaluations",
        ),
        ({"max_steps": 1_000_000, "logging_steps": 1}, "logging_steps", "1,000,000 times"),
        ({"max_steps": 100_000, "save_strategy": "epoch"}, "save_strategy", "once per pass"),
        (
            {
                "max_steps": 1,
                "max_seq_len": 131_072,
                "per_device_train_batch_size": 1024,
                "gradient_accumulation_steps": 1024,
            },
            "max_seq_len",
            "137,438,953,472 tokens",
        ),
    ],
)
def test_absurd_checkpoints_evaluations_logs_or_tokens_are_refused(
    alice_api, key_client, org_a, tiny_model, qa_dataset, hp, field, words
):
    status, body = api(alice_api, tiny_model, qa_dataset, **hp)
    assert status == 400 and words in body["error"]["fields"][field], body
    status, body = bisheng(key_client(org_a), tiny_model, qa_dataset, **hp)
    assert status == 400 and words in body["data"][field], body
    assert not TrainingJob.objects.exists()


def test_seed_has_a_range(alice_api, tiny_model, qa_dataset):
    body = job_body(tiny_model, qa_dataset, seed=2**40)
    response = alice_api.post("/api/jobs/", body, format="json")
    assert response.status_code == 400
    # The API refuses it at the serializer (its range is in the schema); the service says the same range.
    assert response.json()["error"]["fields"]["seed"] == [
        "Ensure this value is less than or equal to 2147483647."
    ]


def gpu(host: str, index: int, *, online: bool = True) -> Device:
    return Device.objects.create(
        host=host, kind="gpu", index=index, name="GPU", heartbeat_at=timezone.now() if online else None
    )


def test_gpu_ids_are_checked_against_the_fleet(
    client, alice, alice_api, key_client, org_a, tiny_model, qa_dataset
):
    # No GPU at all: said at once, on every front end.
    status, body = api(alice_api, tiny_model, qa_dataset, devices="0")
    assert status == 400 and "no GPU in the fleet" in body["error"]["fields"]["devices"]
    status, body = bisheng(key_client(org_a), tiny_model, qa_dataset, gpus="0")
    assert status == 400 and "no GPU in the fleet" in body["data"]["devices"]
    client.force_login(alice)
    status, page = portal(client, tiny_model, qa_dataset, devices="0")
    assert status == 200 and "no GPU in the fleet" in page
    assert not TrainingJob.objects.exists()

    gpu("box-1", 0)
    gpu("box-1", 1, online=False)  # offline but known: its worker may come back
    gpu("box-2", 0)
    status, body = api(alice_api, tiny_model, qa_dataset, devices="0,7")
    assert status == 400
    assert body["error"]["fields"]["devices"] == "no GPU 7 in the fleet; known GPUs (box-1: 0, 1; box-2: 0)"
    status, body = bisheng(key_client(org_a), tiny_model, qa_dataset, gpus="5")
    assert status == 400 and "known GPUs (box-1: 0, 1; box-2: 0)" in body["data"]["devices"]

    # Known ids are accepted (GPU 1 is offline: the job waits for it and says so); 'auto' and 'cpu'
    # are accepted as before, whatever the fleet.
    status, body = api(alice_api, tiny_model, qa_dataset, devices="0,1")
    assert status == 201, body
    assert (
        "No online worker offers GPUs 0, 1" in alice_api.get(f"/api/jobs/{body['id']}/").json()["waiting_for"]
    )
    for devices in ("auto", "auto:4", "cpu"):
        job = job_body(tiny_model, qa_dataset, name=f"on-{devices.replace(':', '-')}", devices=devices)
        assert alice_api.post("/api/jobs/", job, format="json").status_code == 201
