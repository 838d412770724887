import pytest
from django.urls import reverse

from llm_platform.models import ApiKey, Membership
from llm_platform.tenancy import scoped

pytestmark = pytest.mark.django_db


def test_scoped_helper_returns_only_the_orgs_rows(org_a, org_b):
    a_key, _ = ApiKey.issue(org_a)
    b_key, _ = ApiKey.issue(org_b)
    assert list(scoped(ApiKey.objects.all(), org_a)) == [a_key]
    assert list(scoped(ApiKey.objects.all(), org_b)) == [b_key]
    assert list(scoped(ApiKey.objects.all(), None)) == []


def test_anonymous_portal_pages_redirect_to_login(client):
    for name in ["home", "api-keys"]:
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_anonymous_api_gets_401_in_one_error_shape(anon_api):
    response = anon_api.get("/api/org/")
    assert response.status_code in (401, 403)
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == response.status_code
    assert body["error"]["message"]


def test_org_switcher_changes_current_org(client, alice, org_b):
    Membership.objects.create(user=alice, organization=org_b, role="viewer")
    client.force_login(alice)
    assert "Acme Research" in client.get(reverse("home")).content.decode()
    client.post(reverse("switch-org"), {"org": "globex"})
    page = client.get(reverse("home")).content.decode()
    assert 'data-testid="org-name">Globex Labs<' in page


def test_cannot_switch_into_an_org_one_is_not_member_of(client, alice, org_b):
    client.force_login(alice)
    assert client.post(reverse("switch-org"), {"org": "globex"}).status_code == 404
    assert "Acme Research" in client.get(reverse("home")).content.decode()


def test_user_without_org_gets_a_clear_refusal(client, django_user_model):
    user = django_user_model.objects.create_user("lonely", password="x" * 12)
    client.force_login(user)
    response = client.get(reverse("home"))
    assert response.status_code == 403


def test_validation_errors_name_the_field(alice_api):
    response = alice_api.post("/api/api-keys/", {"name": "x" * 300}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "name" in error["fields"]


def test_schema_and_swagger_ui_are_served_without_cdn(alice_api, client, alice):
    schema = alice_api.get("/api/schema/?format=json")
    assert schema.status_code == 200
    assert "/api/api-keys/" in schema.json()["paths"]
    client.force_login(alice)
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in page
    assert "cdn" not in page.lower()


def test_healthz_reports_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}
