"""A job's log after the run: pages, a level filter and a text download, in the portal and the API."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.contract import assert_tenant_contract
from training_app.events import record_event
from training_app.log_view import LINES_PER_PAGE

pytestmark = pytest.mark.django_db

LEVEL_OF = {0: "info", 1: "info", 2: "warning", 3: "debug", 4: "info"}


@pytest.fixture
def finished_job(org_a, make_job):
    """450 log lines (one error every 50th line), two status changes and a metric that is no log line."""
    job = make_job(org_a, "logged")
    record_event(job.pk, "status", {"from": "queued", "to": "running", "reason": "placed"})
    for i in range(450):
        level = "error" if i % 50 == 49 else LEVEL_OF[i % 5]
        record_event(job.pk, "log", {"message": f"line {i}"}, level=level)
    record_event(job.pk, "metric", {"step": 1, "loss": 1.0})
    record_event(job.pk, "status", {"from": "running", "to": "failed", "reason": "boom"})
    return job


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def lines(response) -> list[str]:
    return [line.message if hasattr(line, "message") else line for line in response.context["page"]]


def test_the_portal_log_pages_through_every_line_in_order(alice, finished_job):
    client = client_of(alice)
    first = client.get(f"/training/{finished_job.pk}/log/")
    assert first.status_code == 200
    page = first.context["page"]
    assert page.paginator.count == 452  # 450 lines and 2 status changes; the metric is not a log line
    assert len(page.object_list) == LINES_PER_PAGE
    assert page.object_list[0].payload == {"from": "queued", "to": "running", "reason": "placed"}
    last = client.get(f"/training/{finished_job.pk}/log/?page=last")
    seqs = [event.seq for event in last.context["page"].object_list]
    assert len(seqs) == 452 - 2 * LINES_PER_PAGE and seqs == sorted(seqs)
    assert "running → failed (boom)" in last.content.decode()
    assert 'href="?page=2" rel="prev"' in last.content.decode()


def test_the_portal_log_filters_by_level_and_keeps_the_filter_in_links(alice, finished_job):
    client = client_of(alice)
    errors = client.get(f"/training/{finished_job.pk}/log/?level=error")
    messages = [event.payload["message"] for event in errors.context["page"].object_list]
    assert messages == [f"line {i}" for i in range(49, 450, 50)]
    html = errors.content.decode()
    assert f'href="/api/jobs/{finished_job.pk}/log/?level=error"' in html
    assert 'class="chip log-chip-error active" href="?" aria-pressed="true"' in html
    assert 'class="chip log-chip-info" href="?level=info,error" aria-pressed="false"' in html
    both = client.get(f"/training/{finished_job.pk}/log/?level=warning,error")
    assert {event.level for event in both.context["page"].object_list} == {"warning", "error"}
    assert both.context["page"].paginator.count == 9 + 90
    assert 'rel="next"' not in both.content.decode()  # 99 lines: one page
    later = client.get(f"/training/{finished_job.pk}/log/?level=info").content.decode()
    assert 'href="?level=info&amp;page=2" rel="next"' in later


def test_the_portal_log_is_tenant_scoped(alice, charlie, finished_job):
    assert_tenant_contract(
        f"/training/{finished_job.pk}/log/", anon=Client(), outsider=client_of(charlie), portal=True
    )


def test_the_api_pages_and_filters_log_events(alice_api, charlie_api, finished_job):
    url = f"/api/jobs/{finished_job.pk}/events/"
    page = alice_api.get(url, {"type": "log", "level": "error", "page_size": 4}).json()
    assert page["count"] == 9
    assert [e["payload"]["message"] for e in page["results"]] == [
        "line 49",
        "line 99",
        "line 149",
        "line 199",
    ]
    rest = alice_api.get(page["next"]).json()
    assert len(rest["results"]) == 4 and rest["results"][0]["payload"]["message"] == "line 249"
    after = alice_api.get(url, {"type": "log", "after_seq": 440}).json()
    assert [e["seq"] for e in after["results"]] == list(range(441, 452))
    assert charlie_api.get(url).status_code == 404


def test_the_log_downloads_as_text_with_the_same_filter(alice_api, finished_job):
    response = alice_api.get(f"/api/jobs/{finished_job.pk}/log/", {"level": "warning"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="logged.log"'
    text = b"".join(response.streaming_content).decode().splitlines()
    assert len(text) == 90 and all(" WARNING line " in line for line in text)
