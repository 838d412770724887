"""What an organization used: device time per month, member and job; tokens per deployment and day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.test import Client
from django.utils import timezone

from gpu_workers.models import Device
from serving_app.models import Usage
from tests.training.conftest import make_dataset, sft_rows
from training_app import services
from training_app.models import BaseModel, JobStatus, TrainingJob


def _ran(org, user, name: str, devices: str, start: datetime, minutes: int) -> TrainingJob:
    model, _ = BaseModel.objects.get_or_create(
        name="usage-model", defaults={"path": "/nonexistent", "enabled_for_all": True, "is_valid": True}
    )
    job = services.create_job(
        org,
        user,
        name=name,
        base_model=model,
        datasets=[services.DatasetChoice(make_dataset(org, sft_rows(1), name=name))],
        devices=devices,
    )
    TrainingJob.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED, started_at=start, finished_at=start + timedelta(minutes=minutes)
    )
    return job


def test_usage_per_month_member_job_and_tokens(org_a, org_b, alice, bob, alice_api, charlie_api, charlie):
    for index in (0, 1):  # GPU rows as a GPU worker registers them: GPU jobs may then be created
        Device.objects.create(host="gpu-box", kind="gpu", index=index, heartbeat_at=timezone.now())
    jan = datetime(2026, 1, 10, 9, tzinfo=UTC)
    _ran(org_a, alice, "two-gpus", "auto:2", jan, 30)  # 1 GPU-hour
    _ran(org_a, bob, "on-cpu", "cpu", jan, 90)  # 1.5 device-hours, no GPU
    _ran(
        org_a, bob, "across", "0", datetime(2026, 1, 31, 23, tzinfo=UTC), 120
    )  # 1 h in January, 1 in February
    _ran(org_b, charlie, "theirs", "auto", jan, 600)
    Usage.objects.create(
        organization=org_a,
        model="support-bot",
        day=date(2026, 1, 12),
        requests=3,
        prompt_tokens=40,
        completion_tokens=9,
    )
    org_a.monthly_gpu_hours = Decimal("10")
    org_a.save()

    report = alice_api.get("/api/usage/", {"month": "2026-01"}).json()
    assert report["month"] == "2026-01"
    assert report["months"][0] == {"month": "2026-01", "device_hours": 3.5, "gpu_hours": 2.0}
    assert report["months"][1] == {"month": "2025-12", "device_hours": 0.0, "gpu_hours": 0.0}
    assert report["members"] == [
        {"username": "alice", "device_hours": 1.0, "gpu_hours": 1.0},
        {"username": "bob", "device_hours": 2.5, "gpu_hours": 1.0},
    ]
    assert [(j["name"], j["devices"], j["gpu_hours"]) for j in report["jobs"]] == [
        ("on-cpu", 1, 0.0),
        ("two-gpus", 2, 1.0),
        ("across", 1, 1.0),
    ]
    february = alice_api.get("/api/usage/", {"month": "2026-02"}).json()["months"][0]
    assert february == {"month": "2026-02", "device_hours": 1.0, "gpu_hours": 1.0}
    assert report["limits"]["monthly_gpu_hours"] == "10.00"
    # The outsider's report is their own organization's only.
    theirs = charlie_api.get("/api/usage/", {"month": "2026-01"}).json()
    assert [j["name"] for j in theirs["jobs"]] == ["theirs"] and theirs["tokens"] == []

    bad = alice_api.get("/api/usage/", {"month": "January"})
    assert bad.status_code == 400 and "month" in bad.json()["error"]["fields"]
    page = Client()
    page.force_login(alice)
    html = page.get("/usage/", {"month": "2026-01"}).content.decode()
    assert "two-gpus" in html and "theirs" not in html and "of a budget of <strong>10.00</strong>" in html
    form = page.get("/training/new/").content.decode()
    assert 'data-testid="org-limits"' in form and "budget of 10.00" in form
