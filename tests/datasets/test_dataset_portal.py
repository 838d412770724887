"""Portal pages of datasets: upload with errors beside the form, detail, preview, progress, tenancy."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from datasets_app.models import Dataset
from tests.contract import assert_tenant_contract
from tests.datasets.dataset_support import ALPACA, isolated_media, jsonl, make_ready, stored_files  # noqa: F401

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_upload_form_creates_and_redirects_to_the_detail_page(alice, org_a):
    client = logged_in(alice)
    assert client.get(reverse("datasets:upload")).status_code == 200
    response = client.post(
        reverse("datasets:upload"),
        {
            "file": SimpleUploadedFile("chat.jsonl", jsonl(ALPACA)),
            "name": "Chat",
            "policy": "drop",
            "trim": "on",
            "drop_empty": "on",
            "dedupe": "on",
        },
    )
    dataset = Dataset.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "datasets:detail", args=[dataset.pk]
    )
    page = client.get(response["Location"]).content.decode()
    assert "3 rows ready" in page
    assert 'class="hist"' in page and "<rect" in page  # the per-role length histogram
    assert page.count('data-testid="sample"') == 3
    assert 'class="bubble user"' in page and 'class="bubble assistant"' in page and "Be brief." in page


def test_upload_errors_are_shown_next_to_the_form(alice):
    client = logged_in(alice)
    response = client.post(
        reverse("datasets:upload"),
        {"file": SimpleUploadedFile("broken.jsonl", b'{"instruction": "x"\n'), "policy": "drop"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-testid="upload-error"' in page and "not_json" in page and "line 1" in page
    assert "broken.jsonl: line 1: not valid JSON" in page
    response = client.post(
        reverse("datasets:upload"),
        {"file": SimpleUploadedFile("a.jsonl", jsonl(ALPACA)), "policy": "drop", "mapping": "{oops"},
    )
    assert response.status_code == 400 and 'data-testid="error-mapping"' in response.content.decode()
    assert not Dataset.objects.exists() and stored_files() == []


def test_list_shows_own_datasets_and_presets_with_status(alice, org_a):
    make_ready(org_a, ALPACA, name="mine")
    make_ready(None, ALPACA, name="Shared preset", is_preset=True)
    Dataset.objects.create(organization=org_a, name="queued one", original_filename="q.jsonl")
    page = logged_in(alice).get(reverse("datasets:list")).content.decode()
    assert "mine" in page and "Shared preset" in page and "queued one" in page
    assert 'class="badge ready"' in page and 'class="badge uploaded"' in page
    filtered = logged_in(alice).get(reverse("datasets:list") + "?status=uploaded").content.decode()
    assert "queued one" in filtered and ">mine<" not in filtered


def test_preview_pages_and_progress_fragment(alice, org_a):
    dataset = make_ready(org_a, [{"instruction": f"q{i}", "output": f"a{i}"} for i in range(25)], name="many")
    client = logged_in(alice)
    fragment = client.get(reverse("datasets:preview", args=[dataset.pk]) + "?page=3").content.decode()
    assert "rows 21–25 of 25" in fragment and fragment.count('data-testid="sample"') == 5
    done = client.get(reverse("datasets:progress", args=[dataset.pk]))
    assert done["HX-Refresh"] == "true"
    Dataset.objects.filter(pk=dataset.pk).update(status="processing", progress=0.42)
    polling = client.get(reverse("datasets:progress", args=[dataset.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in polling and "42%" in polling


def test_download_and_delete_from_the_portal(alice, org_a, django_capture_on_commit_callbacks):
    dataset = make_ready(org_a, ALPACA, name="bye")
    client = logged_in(alice)
    response = client.get(reverse("datasets:download", args=[dataset.pk, "normalised"]))
    assert response.status_code == 200 and b"".join(response.streaming_content).count(b"\n") == 3
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("datasets:delete", args=[dataset.pk]))
    assert response.status_code == 302 and not Dataset.objects.exists() and stored_files() == []


def test_viewers_read_only_and_presets_not_deletable(vera, alice, org_a):
    dataset = make_ready(org_a, ALPACA, name="team data")
    preset = make_ready(None, ALPACA, name="preset", is_preset=True)
    viewer = logged_in(vera)
    page = viewer.get(reverse("datasets:detail", args=[dataset.pk])).content.decode()
    assert "team data" in page and 'data-testid="delete"' not in page
    assert 'data-testid="upload-link"' not in viewer.get(reverse("datasets:list")).content.decode()
    assert viewer.get(reverse("datasets:upload")).status_code == 403
    owner_view = logged_in(alice).get(reverse("datasets:detail", args=[preset.pk])).content.decode()
    assert 'data-testid="delete"' not in owner_view
    assert logged_in(alice).post(reverse("datasets:delete", args=[preset.pk])).status_code == 403
    assert Dataset.objects.count() == 2


def test_every_dataset_page_honours_tenancy(alice, vera, charlie, org_a):
    dataset = make_ready(org_a, ALPACA, name="secret")
    anon, outsider, viewer = Client(), logged_in(charlie), logged_in(vera)

    def state():
        return list(Dataset.objects.values_list("pk", "name"))

    for name, args in [
        ("detail", [dataset.pk]),
        ("preview", [dataset.pk]),
        ("progress", [dataset.pk]),
        ("download", [dataset.pk, "original"]),
    ]:
        assert_tenant_contract(
            reverse(f"datasets:{name}", args=args), anon=anon, outsider=outsider, portal=True
        )
    assert_tenant_contract(
        reverse("datasets:delete", args=[dataset.pk]),
        method="post",
        anon=anon,
        outsider=outsider,
        viewer=viewer,
        portal=True,
        unchanged=state,
    )
    assert "secret" not in outsider.get(reverse("datasets:list")).content.decode()
    assert anon.get(reverse("datasets:list")).status_code == 302
