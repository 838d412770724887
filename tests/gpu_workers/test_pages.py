"""The GPUs page, /api/devices/ and Bisheng's GPU list: every member sees the shared fleet; a job on a
device is named only to its own organization."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from gpu_workers.models import Device
from tests.conftest import PASSWORD
from training_app.models import BaseModel, TrainingJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(org_a, org_b):
    model = BaseModel.objects.create(name="base", path="/models/base", is_valid=True)
    acme_job = TrainingJob.objects.create(
        organization=org_a, name="acme-secret-run", base_model=model, status="running"
    )
    globex_job = TrainingJob.objects.create(
        organization=org_b, name="globex-secret-run", base_model=model, status="running"
    )
    TrainingJob.objects.create(organization=org_a, name="acme-waiting", base_model=model)
    TrainingJob.objects.create(organization=org_b, name="globex-waiting", base_model=model)
    now = timezone.now()
    gib = 1024
    return {
        "acme": Device.objects.create(
            host="gpu-box",
            kind="gpu",
            index=0,
            uuid="GPU-aaaa",
            name="NVIDIA H100",
            memory_total_mb=80 * gib,
            memory_used_mb=20 * gib,
            utilization=37,
            heartbeat_at=now,
            leased_job=acme_job,
        ),
        "globex": Device.objects.create(
            host="gpu-box",
            kind="gpu",
            index=1,
            uuid="GPU-bbbb",
            memory_total_mb=80 * gib,
            memory_used_mb=60 * gib,
            utilization=90,
            heartbeat_at=now,
            leased_job=globex_job,
        ),
        "idle": Device.objects.create(
            host="cpu-box", kind="cpu", index=0, memory_total_mb=8 * gib, heartbeat_at=now
        ),
        "dead": Device.objects.create(
            host="old-box", kind="gpu", index=0, uuid="GPU-dead", heartbeat_at=now - timedelta(minutes=5)
        ),
        "acme_job": acme_job,
    }


def portal(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_gpus_page_names_only_the_viewers_own_jobs(fleet, alice, vera, charlie):
    page = portal(alice).get("/gpus/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "gpu-box" in html and "cpu-box" in html and "old-box" in html, "devices grouped per host"
    assert "acme-secret-run" in html and f"/training/{fleet['acme_job'].pk}/" in html
    assert "globex-secret-run" not in html and ">busy<" in html
    assert 'style="width: 25%"' in html and 'style="width: 37%"' in html  # memory 20/80 GiB, utilisation
    assert 'class="badge offline"' in html, "a device whose heartbeat stopped shows offline"
    assert "2</strong> jobs waiting" in html and "1</span> of them yours" in html

    assert "acme-secret-run" in portal(vera).get("/gpus/").content.decode(), "viewers see the page too"

    outsider = portal(charlie).get("/gpus/").content.decode()
    assert "globex-secret-run" in outsider
    assert "acme-secret-run" not in outsider and f"/training/{fleet['acme_job'].pk}/" not in outsider

    fragment = portal(charlie).get("/gpus/?fragment=1").content.decode()
    assert "<html" not in fragment and "globex-secret-run" in fragment and "acme-secret-run" not in fragment


def test_the_gpus_page_needs_a_login_and_an_organization(fleet):
    response = Client().get("/gpus/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    get_user_model().objects.create_user("nomad", password=PASSWORD)
    lonely = Client()
    lonely.login(username="nomad", password=PASSWORD)
    assert lonely.get("/gpus/").status_code == 403


def test_the_devices_api_shows_the_fleet_and_only_its_own_jobs(
    fleet, alice_api, charlie_api, anon_api, key_client, org_a
):
    assert anon_api.get("/api/devices/").status_code == 401
    body = alice_api.get("/api/devices/").json()
    devices = {(d["host"], d["kind"], d["index"]): d for d in body["results"]}
    assert len(devices) == 4
    assert devices[("gpu-box", "gpu", 0)]["job"] == {
        "id": fleet["acme_job"].pk,
        "name": "acme-secret-run",
        "status": "running",
    }
    assert devices[("gpu-box", "gpu", 1)]["job"] == {"busy": True}
    assert devices[("gpu-box", "gpu", 1)]["busy"] is True and devices[("cpu-box", "cpu", 0)]["busy"] is False
    assert (
        devices[("old-box", "gpu", 0)]["status"] == "offline" and not devices[("old-box", "gpu", 0)]["alive"]
    )
    assert body["queue_length"] == 2 and body["queue_length_own"] == 1

    outsider = charlie_api.get(f"/api/devices/{fleet['acme'].pk}/").json()
    assert outsider["job"] == {"busy": True}, "another organization learns the device is busy, nothing more"
    assert "acme-secret-run" not in charlie_api.get("/api/devices/").content.decode()
    assert key_client(org_a).get("/api/devices/").json()["queue_length_own"] == 1
    assert alice_api.post("/api/devices/", {}, format="json").status_code == 405


def test_bisheng_gpu_list_reports_live_gpus_with_their_used_memory(fleet, alice_api, charlie_api, anon_api):
    assert anon_api.get("/api/v1/finetune/gpu").status_code == 401
    body = alice_api.get("/api/v1/finetune/gpu").json()
    assert body["status_code"] == 200 and body["status_message"] == "SUCCESS"
    assert body["data"] == [
        {
            "gpu_uuid": "GPU-aaaa",
            "gpu_id": "0",
            "gpu_total_mem": "80.00 G",
            "gpu_used_mem": "20.00 G",
            "gpu_utility": 0.37,
            "server": "gpu-box",
        },
        {
            "gpu_uuid": "GPU-bbbb",
            "gpu_id": "1",
            "gpu_total_mem": "80.00 G",
            "gpu_used_mem": "60.00 G",
            "gpu_utility": 0.9,
            "server": "gpu-box",
        },
    ]
    assert "secret" not in charlie_api.get("/api/v1/finetune/gpu").content.decode()
