"""API keys carry scopes (read, write, inference) chosen at creation, capped by the key's role."""

from __future__ import annotations

import importlib
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from llm_platform.models import ApiKey, Role

pytestmark = pytest.mark.django_db


def client_with(org, **issue) -> tuple[APIClient, ApiKey]:
    api_key, raw = ApiKey.issue(org, name="scoped", **issue)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client, api_key


def test_keys_default_to_all_their_role_allows(org_a):
    assert ApiKey.issue(org_a)[0].scope_list == ["read", "write", "inference"]
    assert ApiKey.issue(org_a, role=Role.VIEWER)[0].scope_list == ["read"]


def test_a_read_only_key_cannot_write_in_our_api_or_bisheng(org_a):
    for issue in ({"scopes": ["read", "inference"]}, {"role": Role.VIEWER}):
        client, _ = client_with(org_a, **issue)
        assert client.get("/api/jobs/").status_code == 200
        response = client.post("/api/jobs/", {"name": "x"}, format="json")
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "permission_denied" and "lacks the 'write' scope" in error["message"]
        response = client.post("/api/v1/finetune/job", {"model_name": "x"}, format="json")
        body = response.json()
        assert response.status_code == 403 and body["status_code"] == 403 and body["data"] is None
        assert "lacks the 'write' scope" in body["status_message"]


def test_a_key_without_read_cannot_read(org_a):
    client, _ = client_with(org_a, scopes=["inference"])
    response = client.get("/api/jobs/")
    assert response.status_code == 403
    assert "lacks the 'read' scope (it has: inference)" in response.json()["error"]["message"]
    assert client.get("/api/v1/finetune/job").json()["status_code"] == 403


def test_the_role_caps_the_scopes(org_a):
    with pytest.raises(Exception, match="viewer key cannot have the 'inference' scope"):
        ApiKey.issue(org_a, role=Role.VIEWER, scopes=["read", "inference"])
    with pytest.raises(Exception, match="at least one scope"):
        ApiKey.issue(org_a, scopes=[])
    # An operator who turns a key read-only in the admin takes its write and inference away with it.
    client, api_key = client_with(org_a)
    ApiKey.objects.filter(pk=api_key.pk).update(role=Role.VIEWER)
    assert client.post("/api/jobs/", {"name": "x"}, format="json").status_code == 403
    api_key.refresh_from_db()
    assert api_key.scope_list == ["read"] and not api_key.allows("inference")


def test_existing_keys_keep_all_their_role_allows():
    migration = importlib.import_module("llm_platform.migrations.0002_apikey_scopes")
    org = apps.get_model("llm_platform", "Organization").objects.create(slug="old", name="Old")
    member, _ = ApiKey.issue(org)
    viewer, _ = ApiKey.issue(org, role=Role.VIEWER)
    ApiKey.objects.update(scopes="read,write,inference")  # the column's default when it was added
    migration.scopes_of_existing_keys(apps, None)
    member.refresh_from_db()
    viewer.refresh_from_db()
    assert (member.scope_list, viewer.scopes) == (["read", "write", "inference"], "read")


def test_scopes_are_chosen_and_listed_in_the_api(alice_api):
    response = alice_api.post("/api/api-keys/", {"name": "ci", "scopes": ["read"]}, format="json")
    assert response.status_code == 201 and response.json()["scopes"] == ["read"]
    assert alice_api.get("/api/api-keys/").json()["results"][0]["scopes"] == ["read"]
    response = alice_api.post(
        "/api/api-keys/", {"name": "v", "role": "viewer", "scopes": ["write"]}, format="json"
    )
    assert response.status_code == 400 and "scopes" in response.json()["error"]["fields"]
    response = alice_api.post("/api/api-keys/", {"name": "z", "scopes": ["admin"]}, format="json")
    assert response.status_code == 400 and "scopes" in response.json()["error"]["fields"]
    assert ApiKey.objects.count() == 1


def test_the_portal_page_chooses_and_shows_scopes(client, alice):
    client.force_login(alice)
    page = client.get(reverse("api-keys")).content.decode()
    assert 'value="inference"' in page and "checked" in page
    client.post(reverse("api-keys"), {"name": "bot", "role": "member", "scopes": ["inference"]})
    key = ApiKey.objects.get(name="bot")
    assert key.scope_list == ["inference"]
    page = client.get(reverse("api-keys")).content.decode()
    assert f'data-testid="key-scopes-{key.prefix}">inference<' in page
    response = client.post(reverse("api-keys"), {"name": "ro", "role": "viewer", "scopes": ["read", "write"]})
    assert "a viewer key may have: read" in response.content.decode()
    assert not ApiKey.objects.filter(name="ro").exists()
    client.post(reverse("api-keys"), {"name": "ro", "role": "viewer"})  # none ticked: all it may have
    assert ApiKey.objects.get(name="ro").scope_list == ["read"]


def test_create_api_key_command_takes_scopes(org_a):
    out = StringIO()
    call_command("create_api_key", "--org", "acme", "--name", "bot", "--scopes", "inference", stdout=out)
    assert "with scopes inference" in out.getvalue()
    assert ApiKey.objects.get(name="bot").scope_list == ["inference"]
    with pytest.raises(CommandError, match="viewer key cannot have the 'write' scope"):
        call_command("create_api_key", "--org", "acme", "--read-only", "--scopes", "write", stdout=StringIO())
