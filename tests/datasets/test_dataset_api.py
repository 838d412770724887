"""/api/datasets/: list and filters, detail, preview, download, delete; tenancy and presets."""

import pytest

from datasets_app.models import Dataset
from llm_platform.models import Role
from tests.contract import assert_tenant_contract
from tests.datasets.dataset_support import (  # noqa: F401
    ALPACA,
    isolated_media,
    jsonl,
    make_job,
    make_ready,
    stored_files,
    upload,
)

pytestmark = pytest.mark.django_db

QA = [{"instruction": f"Question {i}?", "output": f"Answer {i}."} for i in range(25)]


@pytest.fixture
def dataset(org_a, alice):
    return make_ready(org_a, QA, name="qa")


@pytest.fixture
def preset(db):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from datasets_app.services import create_dataset

    return create_dataset(
        None, None, SimpleUploadedFile("shared.jsonl", jsonl(ALPACA)), name="Shared", is_preset=True
    )


def test_list_filters_and_search(alice_api, org_a, dataset, preset):
    make_ready(org_a, [{"text": "a document"}], name="corpus")
    names = lambda response: sorted(d["name"] for d in response.json()["results"])  # noqa: E731
    assert names(alice_api.get("/api/datasets/")) == ["Shared", "corpus", "qa"]
    assert names(alice_api.get("/api/datasets/?kind=text")) == ["corpus"]
    assert names(alice_api.get("/api/datasets/?preset=true")) == ["Shared"]
    assert names(alice_api.get("/api/datasets/?preset=false&status=ready")) == ["corpus", "qa"]
    assert names(alice_api.get("/api/datasets/?search=QA")) == ["qa"]
    for bad in ("status=done", "kind=csv", "preset=maybe"):
        response = alice_api.get(f"/api/datasets/?{bad}")
        assert response.status_code == 400 and response.json()["error"]["fields"], bad


def test_detail_has_stats_errors_and_download_links(alice_api, org_a):
    rows = QA + [{"instruction": "bad", "output": None}]
    body = upload(alice_api, jsonl(rows)).json()
    detail = alice_api.get(f"/api/datasets/{body['id']}/").json()
    assert detail["stats"]["rows"] == 25
    assert detail["errors"][0]["line"] == 26 and detail["errors_total"] == 1
    assert detail["error_counts"] == {"missing_field": 1}
    assert detail["downloads"]["normalised"].endswith(
        f"/api/datasets/{body['id']}/download/?which=normalised"
    )
    assert detail["writable"] is True


def test_preview_pages_through_normalised_rows(alice_api, dataset):
    url = f"/api/datasets/{dataset.pk}/preview/"
    first = alice_api.get(url + "?page_size=10").json()
    assert (first["count"], first["num_pages"], first["kind"]) == (25, 3, "sft")
    assert first["results"][0]["messages"][0] == {"role": "user", "content": "Question 0?"}
    last = alice_api.get(url + "?page=3&page_size=10").json()
    assert [r["messages"][1]["content"] for r in last["results"]] == [f"Answer {i}." for i in range(20, 25)]
    assert alice_api.get(url + "?page=9&page_size=10").json()["results"] == []
    for bad in ("page=0", "page=x", "page_size=101", "page_size=-1"):
        response = alice_api.get(f"{url}?{bad}")
        assert response.status_code == 400, bad


def test_download_original_and_normalised(alice_api, dataset):
    url = f"/api/datasets/{dataset.pk}/download/"
    original = alice_api.get(url + "?which=original")
    assert original.status_code == 200
    assert b"".join(original.streaming_content) == jsonl(QA)
    assert 'filename="qa.jsonl"' in original["Content-Disposition"]
    normalised = alice_api.get(url + "?which=normalised")
    content = b"".join(normalised.streaming_content)
    assert content.count(b"\n") == 25 and b'"role":"assistant"' in content
    assert 'filename="qa.normalised.jsonl"' in normalised["Content-Disposition"]
    assert alice_api.get(url + "?which=secret").status_code == 400


def test_delete_removes_stored_files_after_commit(alice_api, dataset, django_capture_on_commit_callbacks):
    assert len(stored_files()) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert alice_api.delete(f"/api/datasets/{dataset.pk}/").status_code == 204
    assert not Dataset.objects.filter(pk=dataset.pk).exists()
    assert stored_files() == []


def test_delete_is_refused_while_a_queued_or_running_job_uses_it(
    alice_api, org_a, dataset, settings, tmp_path
):
    settings.MODEL_ROOTS = [tmp_path / "models"]
    job = make_job(org_a, dataset, status="queued", model_root=tmp_path / "models")
    response = alice_api.delete(f"/api/datasets/{dataset.pk}/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert "job1" in response.json()["error"]["message"]
    job.status = "running"
    job.save()
    assert alice_api.delete(f"/api/datasets/{dataset.pk}/").status_code == 409
    assert Dataset.objects.filter(pk=dataset.pk).exists()


def test_a_dataset_of_finished_jobs_can_be_deleted_and_their_record_keeps_it(
    alice_api, client, alice, org_a, dataset, settings, tmp_path
):
    settings.MODEL_ROOTS = [tmp_path / "models"]
    job = make_job(org_a, dataset, status="failed", model_root=tmp_path / "models")
    sha = dataset.sha256
    assert alice_api.delete(f"/api/datasets/{dataset.pk}/").status_code == 204
    assert not Dataset.objects.filter(pk=dataset.pk).exists()

    record = alice_api.get(f"/api/jobs/{job.pk}/").json()["datasets"]
    assert record == [
        {
            "dataset": None,
            "name": dataset.name,
            "num_samples": None,
            "ratio": None,
            "dataset_sha256": sha,
            "placeholders": {},
        }
    ]
    client.force_login(alice)
    assert f"{dataset.name} (deleted)" in client.get(f"/training/{job.pk}/").content.decode()
    # It cannot run again as it was: a clear answer, not a 500 and not a job without data.
    retry = alice_api.post(f"/api/jobs/{job.pk}/retry/")
    assert retry.status_code == 409 and dataset.name in retry.json()["error"]["message"]
    clone = alice_api.post(f"/api/jobs/{job.pk}/clone/", {"name": "again"}, format="json")
    assert clone.status_code == 400 and "datasets" in clone.json()["error"]["fields"]
    job.refresh_from_db()
    assert job.status == "failed" and not job.organization.jobs.filter(name="again").exists()


def test_presets_are_visible_to_every_org_and_read_only(alice_api, charlie_api, vera_api, preset):
    for client in (alice_api, charlie_api, vera_api):
        listed = [d["name"] for d in client.get("/api/datasets/").json()["results"]]
        assert listed == ["Shared"]
        detail = client.get(f"/api/datasets/{preset.pk}/")
        assert detail.status_code == 200 and detail.json()["writable"] is False
        assert client.get(f"/api/datasets/{preset.pk}/preview/").json()["count"] == 3
        assert client.get(f"/api/datasets/{preset.pk}/download/?which=normalised").status_code == 200
    for client in (alice_api, charlie_api):
        response = client.delete(f"/api/datasets/{preset.pk}/")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "read_only"
    assert Dataset.objects.filter(pk=preset.pk).exists()


def test_every_dataset_endpoint_honours_tenancy(org_a, dataset, anon_api, charlie_api, vera_api):
    before = stored_files()

    def state():
        return list(Dataset.objects.values_list("pk", "name", "status")), stored_files()

    base = f"/api/datasets/{dataset.pk}/"
    for url in (base, base + "preview/", base + "download/?which=original"):
        assert_tenant_contract(url, anon=anon_api, outsider=charlie_api, unchanged=state)
    assert_tenant_contract(
        base, method="delete", anon=anon_api, outsider=charlie_api, viewer=vera_api, unchanged=state
    )
    assert stored_files() == before
    charlie_list = charlie_api.get("/api/datasets/").json()["results"]
    assert dataset.pk not in [d["id"] for d in charlie_list]


def test_uploads_need_a_writer(anon_api, vera_api, org_a, key_client):
    assert upload(anon_api, jsonl(ALPACA)).status_code in (401, 403)
    assert upload(vera_api, jsonl(ALPACA)).status_code == 403
    assert upload(key_client(org_a, role=Role.VIEWER), jsonl(ALPACA)).status_code == 403
    assert not Dataset.objects.exists() and stored_files() == []


def test_an_api_key_uploads_into_its_own_organization(org_a, org_b, key_client):
    body = upload(key_client(org_b), jsonl(ALPACA)).json()
    dataset = Dataset.objects.get(pk=body["id"])
    assert dataset.organization == org_b and dataset.created_by is None
    assert key_client(org_a).get(f"/api/datasets/{dataset.pk}/").status_code == 404


def test_the_openapi_schema_documents_the_dataset_endpoints(alice_api):
    response = alice_api.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/datasets/" in paths and "/api/datasets/{id}/preview/" in paths
