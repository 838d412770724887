import pytest
from django.urls import reverse

from llm_platform.models import ApiKey, Role
from tests.contract import assert_tenant_contract

pytestmark = pytest.mark.django_db


def test_created_key_is_shown_once_and_stored_hashed(alice_api):
    response = alice_api.post("/api/api-keys/", {"name": "ci"}, format="json")
    assert response.status_code == 201
    raw = response.json()["key"]
    key = ApiKey.objects.get(pk=response.json()["id"])
    assert raw.startswith(key.prefix + "_")
    assert raw not in key.key_hash and key.key_hash != raw
    listed = alice_api.get("/api/api-keys/").json()["results"]
    assert listed[0]["prefix"] == key.prefix
    assert "key" not in listed[0]


def test_key_authenticates_and_records_last_use(org_a, key_client):
    client = key_client(org_a)
    response = client.get("/api/org/")
    assert response.status_code == 200
    assert response.json()["slug"] == "acme"
    assert ApiKey.objects.get().last_used_at is not None


def test_revoked_key_is_refused(org_a, alice_api):
    raw = alice_api.post("/api/api-keys/", {"name": "temp"}, format="json").json()["key"]
    key = ApiKey.objects.get()
    assert alice_api.delete(f"/api/api-keys/{key.pk}/").status_code == 204
    client = alice_api.__class__()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get("/api/org/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid or revoked API key."


def test_garbage_and_malformed_keys_are_refused(db, anon_api):
    for header in ["Bearer nope", "Bearer tf_deadbeef_wrong", "Token abc", "Bearer"]:
        anon_api.credentials(HTTP_AUTHORIZATION=header)
        assert anon_api.get("/api/org/").status_code == 401


def test_key_of_org_a_cannot_read_org_b(org_a, org_b, charlie, key_client):
    b_key, _ = ApiKey.issue(org_b, name="globex key")
    client = key_client(org_a)
    assert client.get(f"/api/api-keys/{b_key.pk}/").status_code == 404
    prefixes = [k["prefix"] for k in client.get("/api/api-keys/").json()["results"]]
    assert b_key.prefix not in prefixes
    assert client.get("/api/org/").json()["slug"] == "acme"


def test_api_key_endpoints_honour_tenancy(org_a, alice, vera_api, charlie_api, anon_api):
    key, _ = ApiKey.issue(org_a, name="acme key")

    def state():
        return list(ApiKey.objects.values_list("pk", "revoked_at"))

    assert_tenant_contract(f"/api/api-keys/{key.pk}/", anon=anon_api, outsider=charlie_api)
    assert_tenant_contract(
        f"/api/api-keys/{key.pk}/",
        method="delete",
        anon=anon_api,
        outsider=charlie_api,
        viewer=vera_api,
        unchanged=state,
    )
    assert_tenant_contract(
        f"/api/api-keys/{key.pk}/revoke/",
        method="post",
        anon=anon_api,
        outsider=charlie_api,
        viewer=vera_api,
        unchanged=state,
    )


def test_viewer_cannot_create_keys_and_keys_cannot_make_keys(org_a, vera_api, key_client):
    response = vera_api.post("/api/api-keys/", {"name": "x"}, format="json")
    assert response.status_code == 403
    response = key_client(org_a).post("/api/api-keys/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert "cannot manage API keys" in response.json()["error"]["message"]
    assert ApiKey.objects.filter(name="x").count() == 0


def test_read_only_key_cannot_write(org_a, key_client):
    client = key_client(org_a, role=Role.VIEWER)
    assert client.get("/api/org/").status_code == 200
    key = ApiKey.objects.get()
    assert client.delete(f"/api/api-keys/{key.pk}/").status_code == 403


def test_portal_api_key_page_creates_lists_and_revokes(client, alice, org_a):
    client.force_login(alice)
    response = client.post(reverse("api-keys"), {"name": "notebook", "role": "member"})
    assert response.status_code == 200
    raw = response.context["new_key"]
    key = ApiKey.objects.get(name="notebook")
    assert raw.startswith(key.prefix)
    page = client.get(reverse("api-keys")).content.decode()
    assert key.prefix in page and raw not in page
    response = client.post(reverse("api-key-revoke", args=[key.pk]))
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_portal_revoke_of_other_orgs_key_is_404(client, charlie, org_a):
    key, _ = ApiKey.issue(org_a, name="acme")
    client.force_login(charlie)
    assert client.post(reverse("api-key-revoke", args=[key.pk])).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_portal_viewer_cannot_create_or_revoke(client, vera, org_a):
    key, _ = ApiKey.issue(org_a, name="acme")
    client.force_login(vera)
    assert client.post(reverse("api-keys"), {"name": "v", "role": "member"}).status_code == 403
    assert client.post(reverse("api-key-revoke", args=[key.pk])).status_code == 403
    assert ApiKey.objects.count() == 1
    key.refresh_from_db()
    assert key.revoked_at is None
