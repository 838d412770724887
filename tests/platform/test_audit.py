"""The audit log: every state-changing action with its actor (people, API keys, the Bisheng-compatible
API), readable by admins with filters and as CSV, and unchangeable through anything the application has."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import AsyncClient, Client
from django.utils import timezone

from llm_platform.audit import record
from llm_platform.models import ApiKey, AuditEntry, AuditLogImmutable, Membership, Role
from tests.contract import assert_tenant_contract
from tests.training.conftest import make_dataset, sft_rows, tiny_model, tiny_model_dir  # noqa: F401
from training_app import services
from training_app.models import BaseModel


@pytest.fixture
def job(org_a, alice):
    model = BaseModel.objects.create(
        name="audit-model", path="/nonexistent", enabled_for_all=True, is_valid=True
    )
    dataset = make_dataset(org_a, sft_rows(1))
    return services.create_job(
        org_a,
        alice,
        name="audited",
        base_model=model,
        datasets=[services.DatasetChoice(dataset)],
        devices="auto",
    )


def _key(org):
    api_key, raw = ApiKey.issue(org, name="ci", role=Role.MEMBER)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api_key, client


def test_every_action_is_recorded_with_its_actor(alice, alice_api, bob, org_a, job):
    portal = Client()
    portal.force_login(alice)
    assert portal.post("/api-keys/", {"name": "deploy", "role": "member"}).status_code == 200
    api_key, key_client = _key(org_a)
    # Through the Bisheng-compatible API with a key, then through our API as a person.
    assert key_client.post(f"/api/v1/finetune/job/cancel?job_id={job.pk}").status_code == 200
    assert alice_api.post(f"/api/jobs/{job.pk}/retry/").status_code == 200
    dataset = make_dataset(org_a, sft_rows(1), name="to-delete")
    assert key_client.delete(f"/api/datasets/{dataset.pk}/").status_code == 204
    bob_m = Membership.objects.get(user=bob, organization=org_a)
    assert alice_api.patch(f"/api/members/{bob_m.pk}/", {"role": "viewer"}, format="json").status_code == 200

    log = [e for e in alice_api.get("/api/audit/").json()["results"] if e["action"] != "member.add"]
    seen = [(e["actor"], e["action"], e["object_type"]) for e in reversed(log)]
    key_name = f"api-key:{api_key.prefix}"
    assert seen == [
        ("system", "job.create", "trainingjob"),  # created by a service call, outside any request
        ("alice", "api_key.create", "apikey"),
        (key_name, "job.cancel", "trainingjob"),
        ("alice", "job.retry", "trainingjob"),
        (key_name, "dataset.delete", "dataset"),
        ("alice", "member.role", "membership"),
    ]
    assert log[0]["summary"] == "role: member -> viewer" and log[0]["client_address"] == "127.0.0.1"
    assert AuditEntry.objects.filter(action="job.cancel").get().actor_api_key == api_key

    only_key = alice_api.get("/api/audit/", {"actor": "api-key"}).json()["results"]
    assert [e["action"] for e in only_key] == ["dataset.delete", "job.cancel"]
    jobs = alice_api.get("/api/audit/", {"object_type": "trainingjob", "action": "job.retry"}).json()
    assert jobs["count"] == 1
    assert alice_api.get("/api/audit/", {"since": "2000-01-01", "until": "2000-01-02"}).json()["count"] == 0
    bad = alice_api.get("/api/audit/", {"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.json()["error"]["fields"]

    exported = alice_api.get("/api/audit/export/", {"actor": "alice"})
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert rows[0][:3] == ["time", "actor", "action"] and [r[2] for r in rows[1:]] == [
        "member.role",
        "job.retry",
        "api_key.create",
    ]
    page = portal.get("/audit/", {"action": "job.cancel"})
    assert (
        page.status_code == 200 and key_name.encode() in page.content and b"member.role" not in page.content
    )
    csv_page = portal.get("/audit/", {"format": "csv", "actor": "api-key"})
    lines = b"".join(csv_page.streaming_content).splitlines()
    assert csv_page["Content-Type"] == "text/csv" and len(lines) == 3  # the header and the key's two actions


def test_the_log_cannot_be_changed(alice_api, org_a, alice):
    entry = record(org_a, "dataset.create", summary="x")
    url = f"/api/audit/{entry.pk}/"
    for method in ("put", "patch", "delete"):
        assert getattr(alice_api, method)(url, {"summary": "y"}, format="json").status_code == 405
    assert alice_api.post("/api/audit/", {"summary": "y"}, format="json").status_code == 405
    with pytest.raises(AuditLogImmutable):
        AuditEntry.objects.filter(pk=entry.pk).update(summary="y")
    with pytest.raises(AuditLogImmutable):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    entry.summary = "y"
    with pytest.raises(AuditLogImmutable):
        entry.save()
    with pytest.raises(AuditLogImmutable):
        entry.delete()
    staff = get_user_model().objects.create_superuser("root", password="x")
    admin = Client()
    admin.force_login(staff)
    assert admin.get(f"/admin/llm_platform/auditentry/{entry.pk}/change/").status_code == 200  # staff read
    assert (
        admin.post(f"/admin/llm_platform/auditentry/{entry.pk}/change/", {"summary": "y"}).status_code == 403
    )
    assert (
        admin.post(f"/admin/llm_platform/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert AuditEntry.objects.get(pk=entry.pk).summary == "x"


def test_outsiders_and_viewers_do_not_read_the_log(
    org_a, org_b, alice, charlie, anon_api, charlie_api, vera_api
):
    entry = record(org_a, "dataset.create", summary="secret")
    assert_tenant_contract(f"/api/audit/{entry.pk}/", anon=anon_api, outsider=charlie_api)
    theirs = charlie_api.get("/api/audit/").json()["results"]
    assert [(e["action"], e["object_repr"]) for e in theirs] == [
        ("member.add", "charlie in Globex Labs (owner)")
    ]
    assert vera_api.get(f"/api/audit/{entry.pk}/").status_code == 403
    outsider = Client()
    outsider.force_login(charlie)
    assert b"secret" not in outsider.get("/audit/").content


def test_retention_prunes_only_old_entries(org_a):
    AuditEntry.objects.create(
        organization=org_a,
        actor="system",
        action="dataset.create",
        object_type="dataset",
        summary="old",
        created_at=timezone.now() - timedelta(days=400),
    )
    record(org_a, "dataset.create", summary="new")
    call_command("prune_audit_log", stdout=io.StringIO())
    assert list(AuditEntry.objects.values_list("summary", flat=True)) == ["new"]


def test_publishing_and_unpublishing_are_recorded(org_a, alice, tiny_model):  # noqa: F811 - the fixture
    api_key, client = _key(org_a)
    made = client.post(
        "/api/deployments/", {"base_model": tiny_model.pk, "name": "tiny"}, content_type="application/json"
    )
    assert made.status_code == 201, made.json()
    assert client.delete(f"/api/deployments/{made.json()['id']}/").status_code == 204
    entries = AuditEntry.objects.filter(object_type="deployment").order_by("created_at", "id")
    assert [(e.action, e.actor, e.object_repr) for e in entries] == [
        ("deployment.publish", f"api-key:{api_key.prefix}", "tiny"),
        ("deployment.unpublish", f"api-key:{api_key.prefix}", "tiny"),
    ]


def test_operators_changing_an_organizations_limits_is_recorded(org_b):
    staff = get_user_model().objects.create_superuser("ops", password="x")
    admin = Client()
    admin.force_login(staff)
    form = {
        "slug": "globex",
        "name": "Globex Labs",
        "max_running_jobs": "2",
        "max_gpus": "",
        "monthly_gpu_hours": "40",
        "created_at_0": "2026-01-01",
        "created_at_1": "00:00:00",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    response = admin.post(f"/admin/llm_platform/organization/{org_b.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]
    entry = AuditEntry.objects.get(action="organization.settings")
    assert (entry.actor, entry.organization_id) == ("ops", org_b.pk)
    assert entry.summary == "max_running_jobs: None -> 2; monthly_gpu_hours: None -> 40"


@pytest.mark.django_db(transaction=True)
async def test_the_actor_is_known_under_asgi_too(alice, org_a):
    """Daphne serves the portal and the API through Django's ASGI handler: the actor reaches the services."""
    client = AsyncClient()
    await client.aforce_login(alice)
    response = await client.post("/api/api-keys/", {"name": "asgi"}, content_type="application/json")
    assert response.status_code == 201
    entry = await AuditEntry.objects.aget(action="api_key.create")
    assert (entry.actor, entry.client_address) == ("alice", "127.0.0.1")
