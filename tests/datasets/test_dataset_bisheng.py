"""Bisheng-compatible training-file endpoints: envelope, identifiers instead of paths, tenancy."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets_app.models import Dataset
from tests.contract import assert_tenant_contract
from tests.datasets.dataset_support import (  # noqa: F401
    ALPACA,
    isolated_media,
    jsonl,
    make_ready,
    raw_multipart,
    stored_files,
)

pytestmark = pytest.mark.django_db

FILE_URL = "/api/v1/finetune/job/file"
PRESET_URL = "/api/v1/finetune/job/file/preset"
DOWNLOAD_URL = "/api/v1/finetune/job/file/download"


def files(*items):
    return {"files": [SimpleUploadedFile(name, content) for name, content in items]}


def test_upload_answers_name_url_and_num_per_file(alice_api, org_a):
    response = alice_api.post(
        FILE_URL, files(("a.jsonl", jsonl(ALPACA)), ("b.json", b'[{"text": "doc"}]')), format="multipart"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status_code"], body["status_message"]) == (200, "SUCCESS")
    items = {item["name"]: item for item in body["data"]}
    assert (items["a"]["num"], items["b"]["num"]) == (3, 1)
    for item in items.values():
        dataset = Dataset.objects.get(uid=item["id"])
        assert item["url"] == f"dataset://{dataset.uid}"
        assert dataset.organization == org_a
        assert "/" not in item["url"].removeprefix("dataset://")


def test_upload_is_all_or_nothing_and_errors_keep_the_envelope(alice_api):
    response = alice_api.post(
        FILE_URL, files(("good.jsonl", jsonl(ALPACA)), ("bad.jsonl", b"not json\n")), format="multipart"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["status_code"] == 400
    assert body["status_message"].startswith("bad.jsonl: line 1: not valid JSON")
    assert body["data"] == {"file": "bad.jsonl", "line": 1}
    assert not Dataset.objects.exists() and stored_files() == []
    assert alice_api.post(FILE_URL, {}, format="multipart").json()["status_code"] == 400


def test_upload_refuses_path_tricks_in_file_names(alice_api):
    body, content_type = raw_multipart("files", "../../../etc/passwd.jsonl", jsonl(ALPACA))
    response = alice_api.post(FILE_URL, body, content_type=content_type)
    assert response.status_code == 400 and "file name" in response.json()["status_message"]
    assert not Dataset.objects.exists() and stored_files() == []


def test_preset_list_pages_and_searches(alice_api, charlie_api, org_a):
    for name in ("Identity", "Instructions A", "Instructions B"):
        make_ready(None, ALPACA, name=name, is_preset=True)
    make_ready(org_a, ALPACA, name="Instructions (own, not a preset)")
    body = alice_api.get(PRESET_URL).json()["data"]
    assert body["total"] == 3 and [i["name"] for i in body["list"]] == [
        "Identity",
        "Instructions A",
        "Instructions B",
    ]
    page = charlie_api.get(PRESET_URL, {"keyword": "instr", "page_size": 1, "page_num": 2}).json()["data"]
    assert page["total"] == 2 and [i["name"] for i in page["list"]] == ["Instructions B"]
    assert page["list"][0]["url"].startswith("dataset://") and page["list"][0]["num"] == 3
    bad = alice_api.get(PRESET_URL, {"page_size": "x"})
    assert bad.status_code == 400 and bad.json()["status_code"] == 400


def test_only_operators_create_and_delete_presets(alice, alice_api, charlie_api, org_a):
    upload = files(("identity.jsonl", jsonl(ALPACA)))
    refused = alice_api.post(PRESET_URL, upload, format="multipart")
    assert refused.status_code == 403 and "operators" in refused.json()["status_message"]
    assert not Dataset.objects.exists()

    alice.is_staff = True
    alice.save()
    created = alice_api.post(
        PRESET_URL, {**files(("identity.jsonl", jsonl(ALPACA))), "name": "Identity"}, format="multipart"
    ).json()["data"][0]
    preset = Dataset.objects.get(uid=created["id"])
    assert (preset.is_preset, preset.organization, preset.name) == (True, None, "Identity")
    assert charlie_api.get(PRESET_URL).json()["data"]["total"] == 1

    url_form = alice_api.post(PRESET_URL, {"files": "http://169.254.169.254/latest"}, format="multipart")
    assert url_form.status_code == 400 and "not fetched" in url_form.json()["status_message"]

    response = charlie_api.delete(f"{PRESET_URL}?id={preset.uid}")
    assert response.status_code == 403 and response.json()["status_code"] == 403
    own = make_ready(org_a, ALPACA, name="own")
    assert alice_api.delete(f"{PRESET_URL}?id={own.uid}").status_code == 404
    assert alice_api.delete(f"{PRESET_URL}?file_id={preset.uid}").json()["status_code"] == 200
    assert not Dataset.objects.filter(pk=preset.pk).exists()


def test_download_gives_a_link_for_own_and_preset_files_only(alice_api, charlie_api, org_a, org_b):
    own = make_ready(org_a, ALPACA, name="own")
    preset = make_ready(None, ALPACA, name="preset", is_preset=True)
    body = alice_api.get(DOWNLOAD_URL, {"file_url": f"dataset://{own.uid}"}).json()
    assert body["data"] == {"url": f"/api/datasets/{own.pk}/download/?which=original", "name": "own.jsonl"}
    assert alice_api.get(body["data"]["url"]).status_code == 200
    assert charlie_api.get(DOWNLOAD_URL, {"file_url": f"dataset://{preset.uid}"}).status_code == 200
    for ref in (f"dataset://{own.uid}", str(own.pk), "dataset://nonsense", "/etc/passwd"):
        response = charlie_api.get(DOWNLOAD_URL, {"file_url": ref})
        assert response.status_code == 404 and response.json()["status_code"] == 404, ref


def test_bisheng_endpoints_honour_tenancy(org_a, alice, anon_api, charlie_api, vera_api):
    own = make_ready(org_a, ALPACA, name="own")

    def state():
        return list(Dataset.objects.values_list("pk", "is_preset")), stored_files()

    assert_tenant_contract(
        f"{DOWNLOAD_URL}?file_url=dataset://{own.uid}", anon=anon_api, outsider=charlie_api, unchanged=state
    )
    assert_tenant_contract(
        f"{PRESET_URL}?id={own.uid}",
        method="delete",
        anon=anon_api,
        outsider=charlie_api,
        viewer=vera_api,
        unchanged=state,
    )
    response = vera_api.post(FILE_URL, files(("x.jsonl", jsonl(ALPACA))), format="multipart")
    assert response.status_code == 403 and response.json()["status_code"] == 403
    assert anon_api.post(FILE_URL, files(("x.jsonl", jsonl(ALPACA))), format="multipart").status_code in (
        401,
        403,
    )
    assert anon_api.get(PRESET_URL).status_code in (401, 403)
    assert Dataset.objects.count() == 1
