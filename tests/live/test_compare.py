"""The compare page: tenant-scoped, loss curves of every job, only the settings that differ."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.contract import assert_tenant_contract
from training_app.events import record_event
from training_app.models import JobEvent

HP = {"learning_rate": 0.0002, "lora_rank": 8, "num_train_epochs": 2, "max_seq_len": 512}


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def metrics(job, points: list[tuple[int, float, float | None]]) -> None:
    for step, loss, eval_loss in points:
        record_event(job.pk, "metric", {"step": step, "loss": loss, "eval_loss": eval_loss})


@pytest.fixture
def pair(org_a, make_job):
    first = make_job(org_a, "base-lr", hyperparameters=HP)
    second = make_job(org_a, "high-lr", hyperparameters={**HP, "learning_rate": 0.001, "lora_rank": 16})
    metrics(first, [(1, 2.0, None), (2, 1.5, 1.7)])
    metrics(second, [(1, 2.1, None), (2, 1.2, None), (3, 0.9, 1.1)])
    first.refresh_from_db()
    second.refresh_from_db()
    return first, second


@pytest.mark.django_db
def test_compare_overlays_curves_and_highlights_only_differences(alice, pair):
    first, second = pair
    response = client_of(alice).get(f"/training/compare/?jobs={first.pk},{second.pk}")
    assert response.status_code == 200
    differing = {
        row["key"]: [cell["value"] for cell in row["cells"]] for row in response.context["differing"]
    }
    assert differing == {"learning_rate": [0.0002, 0.001], "lora_rank": [8, 16]}
    assert {key for key, _ in response.context["same"]} >= {"num_train_epochs", "max_seq_len", "method"}
    html = response.content.decode()
    assert html.count('class="compare-changed"') == 2  # the second job's two departures from the first
    assert 'data-key="num_train_epochs"' not in html
    series = {s["name"]: s for s in response.context["series"]}
    assert series["base-lr"]["train"] == [[1, 2.0], [2, 1.5]] and series["base-lr"]["eval"] == [[2, 1.7]]
    assert series["high-lr"]["train"] == [[1, 2.1], [2, 1.2], [3, 0.9]]
    assert [job.name for job in response.context["jobs"]] == ["base-lr", "high-lr"]


@pytest.mark.django_db
def test_the_job_lists_checkboxes_compare_in_the_order_ticked(alice, pair):
    first, second = pair
    response = client_of(alice).get(f"/training/compare/?jobs={second.pk}&jobs={first.pk}")
    assert [job.name for job in response.context["jobs"]] == ["high-lr", "base-lr"]
    listing = client_of(alice).get("/training/").content.decode()
    assert f'name="jobs" value="{first.pk}"' in listing


@pytest.mark.django_db
def test_curves_stop_at_the_seq_the_live_socket_resumes_after(alice, pair):
    first, second = pair
    # A metric row committed after the job row was read (seq beyond last_seq): the socket sends it.
    JobEvent.objects.create(
        job=first, seq=first.last_seq + 1, type="metric", payload={"step": 9, "loss": 0.1}
    )
    response = client_of(alice).get(f"/training/compare/?jobs={first.pk},{second.pk}")
    series = {s["name"]: s for s in response.context["series"]}
    assert [9, 0.1] not in series["base-lr"]["train"]
    assert series["base-lr"]["last_seq"] == 2


@pytest.mark.django_db
def test_compare_is_tenant_scoped(alice, charlie, org_b, make_job, pair):
    first, second = pair
    url = f"/training/compare/?jobs={first.pk},{second.pk}"
    assert_tenant_contract(url, anon=Client(), outsider=client_of(charlie), portal=True)
    theirs = make_job(org_b, "globex-job", hyperparameters=HP)
    mixed = client_of(alice).get(f"/training/compare/?jobs={first.pk},{theirs.pk}")
    assert mixed.status_code == 404
    assert b"globex-job" not in mixed.content


@pytest.mark.django_db
def test_bad_or_too_many_ids(alice, pair):
    first, _second = pair
    client = client_of(alice)
    assert client.get(f"/training/compare/?jobs={first.pk},x").status_code == 404
    too_many = client.get("/training/compare/?jobs=" + ",".join(str(first.pk + i) for i in range(9)))
    assert too_many.status_code == 400
    assert b"at most 8" in too_many.content
    empty = client.get("/training/compare/")
    assert empty.status_code == 200 and b"Tick two or more jobs" in empty.content
