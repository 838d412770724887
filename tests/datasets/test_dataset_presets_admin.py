"""Presets (shipped, synced, demo) and the operators' admin for datasets."""

import json
import shutil
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from datasets_app.demo import SAMPLE_NAME, demo_setup
from datasets_app.ingest import presets as preset_files
from datasets_app.models import Dataset
from datasets_app.services import sync_presets
from tests.datasets.dataset_support import ALPACA, isolated_media, jsonl, make_job, make_ready, stored_files  # noqa: F401

pytestmark = pytest.mark.django_db


def test_shipped_presets_are_synced_once_and_visible_to_every_org(charlie_api):
    index = {p["slug"]: p for p in preset_files.list_presets()}
    outcomes = {d.preset_slug: outcome for d, outcome in sync_presets()}
    assert outcomes == dict.fromkeys(index, "created")
    identity = Dataset.objects.get(preset_slug="identity")
    assert (identity.organization, identity.is_preset, identity.status) == (None, True, "ready")
    assert identity.has_placeholders and identity.num_rows == index["identity"]["rows"]
    assert identity.options["language"] == ["en", "zh"]
    bilingual = Dataset.objects.get(preset_slug="bilingual-instructions")
    assert not bilingual.has_placeholders and bilingual.num_rows == index["bilingual-instructions"]["rows"]
    assert all(path.startswith("datasets/presets/") for path in stored_files())

    out = StringIO()
    call_command("sync_presets", stdout=out)
    assert "unchanged: identity" in out.getvalue()
    assert Dataset.objects.count() == 2
    listed = charlie_api.get("/api/datasets/?preset=true").json()["results"]
    assert sorted(d["preset_slug"] for d in listed) == sorted(index)


def test_a_changed_preset_file_refreshes_the_same_row(
    tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    presets_dir = tmp_path / "presets"
    shutil.copytree(preset_files.PRESETS_DIR, presets_dir)
    monkeypatch.setattr(preset_files, "PRESETS_DIR", presets_dir)
    sync_presets()
    identity = Dataset.objects.get(preset_slug="identity")
    old_files = {identity.original_file.name, identity.normalised_file.name}

    rows = json.loads((presets_dir / "identity.json").read_text(encoding="utf-8"))
    (presets_dir / "identity.json").write_text(json.dumps(rows[:5]), encoding="utf-8")
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = {d.preset_slug: outcome for d, outcome in sync_presets()}
    assert outcomes == {"identity": "updated", "bilingual-instructions": "unchanged"}
    refreshed = Dataset.objects.get(preset_slug="identity")
    assert (refreshed.pk, refreshed.num_rows) == (identity.pk, 5)
    assert refreshed.sha256 != identity.sha256
    assert not old_files & set(stored_files())
    assert {refreshed.original_file.name, refreshed.normalised_file.name} <= set(stored_files())


def test_demo_setup_adds_presets_and_one_sample_dataset_once(org_a):
    out = StringIO()
    demo_setup(org_a, out)
    demo_setup(org_a, out)
    sample = Dataset.objects.get(organization=org_a)
    assert (sample.name, sample.status, sample.num_rows) == (SAMPLE_NAME, "ready", 6)
    assert Dataset.objects.filter(is_preset=True).count() == 2
    assert "sample dataset" in out.getvalue()


@pytest.fixture
def operator(alice):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    return alice


def test_admin_lists_filters_and_uploads(client, operator, org_a, org_b):
    client.force_login(operator)
    make_ready(org_b, ALPACA, name="globex data")
    page = client.get(f"/admin/datasets/dataset/?status__exact=ready&organization__id__exact={org_b.pk}")
    assert page.status_code == 200 and b"globex data" in page.content
    assert client.get("/admin/datasets/dataset/?q=globex").status_code == 200

    response = client.post(
        "/admin/datasets/dataset/add/",
        {
            "organization": "",
            "name": "Global set",
            "is_preset": "on",
            "source_format": "",
            "upload": SimpleUploadedFile("global.jsonl", jsonl(ALPACA)),
        },
    )
    assert response.status_code == 302, response.content
    preset = Dataset.objects.get(name="Global set")
    assert (preset.organization, preset.is_preset, preset.num_rows) == (None, True, 3)
    assert client.get(f"/admin/datasets/dataset/{preset.pk}/change/").status_code == 200

    refused = client.post(
        "/admin/datasets/dataset/add/",
        {"organization": org_a.pk, "name": "bad", "upload": SimpleUploadedFile("bad.jsonl", b"nope\n")},
    )
    assert refused.status_code == 200 and b"not valid JSON" in refused.content
    assert not Dataset.objects.filter(name="bad").exists()


def test_admin_actions_mark_presets_and_delete_through_the_service(
    client, operator, org_a, tmp_path, settings
):
    client.force_login(operator)
    own = make_ready(org_a, ALPACA, name="own")
    busy = make_ready(org_a, ALPACA, name="busy")
    settings.MODEL_ROOTS = [tmp_path / "models"]
    make_job(org_a, busy, model_root=tmp_path / "models")
    changelist = "/admin/datasets/dataset/"

    client.post(changelist, {"action": "mark_preset", "_selected_action": [own.pk]})
    own.refresh_from_db()
    assert own.is_preset
    client.post(changelist, {"action": "unmark_preset", "_selected_action": [own.pk]})
    own.refresh_from_db()
    assert not own.is_preset

    response = client.post(
        changelist, {"action": "delete_datasets", "_selected_action": [own.pk, busy.pk]}, follow=True
    )
    assert b"used by queued or running training jobs" in response.content
    assert list(Dataset.objects.values_list("name", flat=True)) == ["busy"]
