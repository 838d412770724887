"""Teams run themselves: invitations, roles, removal, ownership, new organizations and sign-up."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client, override_settings

from llm_platform.models import Invitation, Membership, Role
from llm_platform.services import add_member
from tests.conftest import PASSWORD
from tests.contract import assert_tenant_contract

LINK = re.compile(r"https?://[^/\s]+(/invitations/[A-Za-z0-9_-]+/)")


def portal(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def dave(db):
    return get_user_model().objects.create_user("dave", password=PASSWORD)


def test_owner_invites_through_the_portal_and_the_invitee_joins(
    alice, org_a, org_b, dave, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        page = portal(alice).post("/members/", {"email": "dave@example.com", "role": "member"})
    assert page.status_code == 200
    path = LINK.search(page.content.decode())[1]
    assert [m.to for m in mail.outbox] == [["dave@example.com"]] and path in mail.outbox[0].body

    anonymous = portal().get(path)
    assert anonymous.status_code == 200 and b"Log in to accept" in anonymous.content
    client = portal(dave)
    assert client.get("/").status_code == 403  # no organization yet
    assert client.post(path).status_code == 302
    home = client.get("/")
    assert home.status_code == 200 and b"Acme Research" in home.content
    assert Membership.objects.get(user=dave, organization=org_a).role == Role.MEMBER
    # One time only: the used link is gone, for dave and for anyone else.
    assert client.get(path).status_code == 404
    assert portal(get_user_model().objects.create_user("eve")).post(path).status_code == 404


def test_invitations_expire_and_can_be_revoked(alice_api, dave):
    made = alice_api.post("/api/invitations/", {"role": "viewer"}, format="json")
    assert made.status_code == 201 and made.json()["state"] == "open"
    token = made.json()["token"]
    Invitation.objects.filter(pk=made.json()["id"]).update(expires_at=made.json()["created_at"])
    dave_api = portal(dave)
    assert (
        dave_api.post(
            "/api/invitations/accept/", {"token": token}, content_type="application/json"
        ).status_code
        == 404
    )

    second = alice_api.post("/api/invitations/", {"role": "member"}, format="json").json()
    assert alice_api.delete(f"/api/invitations/{second['id']}/").status_code == 204
    assert portal(dave).get(f"/invitations/{second['token']}/").status_code == 404
    assert alice_api.get(f"/api/invitations/{second['id']}/").json()["state"] == "revoked"


def test_api_invitation_accept_and_role_change_take_effect_at_once(alice_api, bob_api, bob, org_a, dave):
    token = alice_api.post("/api/invitations/", {"role": "member"}, format="json").json()["token"]
    joined = portal(dave).post("/api/invitations/accept/", {"token": token}, content_type="application/json")
    assert joined.status_code == 201 and joined.json()["role"] == "member"

    assert bob_api.post("/api/api-keys/", {"name": "ci"}, format="json").status_code == 201
    bob_membership = Membership.objects.get(user=bob, organization=org_a)
    changed = alice_api.patch(f"/api/members/{bob_membership.pk}/", {"role": "viewer"}, format="json")
    assert changed.status_code == 200 and changed.json()["role"] == "viewer"
    # The demoted member's next write is refused; no new session needed.
    assert bob_api.post("/api/api-keys/", {"name": "ci2"}, format="json").status_code == 403


def test_members_and_viewers_cannot_manage(bob_api, vera_api, bob, vera, alice, org_a):
    alice_membership = Membership.objects.get(user=alice, organization=org_a)
    vera_membership = Membership.objects.get(user=vera, organization=org_a)
    for client in (bob_api, vera_api):
        assert client.post("/api/invitations/", {"role": "member"}, format="json").status_code == 403
        assert client.get("/api/audit/").status_code == 403
        assert (
            client.patch(
                f"/api/members/{alice_membership.pk}/", {"role": "viewer"}, format="json"
            ).status_code
            == 403
        )
    assert bob_api.delete(f"/api/members/{vera_membership.pk}/").status_code == 403
    assert portal(vera).post("/members/", {"role": "member"}).status_code == 403
    assert portal(bob).post(f"/members/{vera_membership.pk}/remove/").status_code == 403
    assert portal(vera).get("/audit/").status_code == 403
    assert Invitation.objects.count() == 0
    assert Membership.objects.filter(organization=org_a).count() == 3


def test_admins_manage_below_them_and_only_the_owner_transfers(alice_api, alice, bob, vera, org_a):
    bob_m = Membership.objects.get(user=bob, organization=org_a)
    vera_m = Membership.objects.get(user=vera, organization=org_a)
    alice_m = Membership.objects.get(user=alice, organization=org_a)
    assert alice_api.patch(f"/api/members/{bob_m.pk}/", {"role": "admin"}, format="json").status_code == 200
    bob_api = portal(bob)
    # An admin cannot touch the owner, nor hand out ownership.
    assert bob_api.delete(f"/api/members/{alice_m.pk}/").status_code == 403
    assert bob_api.post(f"/api/members/{vera_m.pk}/transfer-ownership/").status_code == 403
    assert alice_api.patch(f"/api/members/{vera_m.pk}/", {"role": "owner"}, format="json").status_code == 400
    assert bob_api.delete(f"/api/members/{vera_m.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=vera_m.pk).exists()

    assert alice_api.post(f"/api/members/{bob_m.pk}/transfer-ownership/").status_code == 200
    roles = dict(Membership.objects.filter(organization=org_a).values_list("user__username", "role"))
    assert roles == {"alice": "admin", "bob": "owner"}


def test_outsiders_get_404_on_every_member_endpoint_and_page(
    alice_api, anon_api, charlie_api, charlie, vera, vera_api, bob, org_a
):
    bob_m = Membership.objects.get(user=bob, organization=org_a)
    invitation = alice_api.post("/api/invitations/", {"role": "member"}, format="json").json()
    state = lambda: (  # noqa: E731 - a snapshot of what a refused caller must not change
        sorted(Membership.objects.values_list("pk", "role")),
        sorted(Invitation.objects.values_list("pk", "revoked_at")),
    )
    api = {"anon": anon_api, "outsider": charlie_api, "viewer": vera_api, "unchanged": state}
    assert_tenant_contract(f"/api/members/{bob_m.pk}/", **api)
    assert_tenant_contract(f"/api/members/{bob_m.pk}/", method="patch", data={"role": "viewer"}, **api)
    assert_tenant_contract(f"/api/members/{bob_m.pk}/", method="delete", **api)
    assert_tenant_contract(f"/api/members/{bob_m.pk}/transfer-ownership/", method="post", **api)
    assert_tenant_contract(f"/api/invitations/{invitation['id']}/", **api)
    assert_tenant_contract(f"/api/invitations/{invitation['id']}/", method="delete", **api)
    pages = {"anon": portal(), "outsider": portal(charlie), "viewer": portal(vera), "portal": True}
    for url in (
        f"/members/{bob_m.pk}/role/",
        f"/members/{bob_m.pk}/remove/",
        f"/members/{bob_m.pk}/transfer/",
    ):
        assert_tenant_contract(url, method="post", data={"role": "viewer"}, unchanged=state, **pages)
    assert_tenant_contract(
        f"/invitations/{invitation['id']}/revoke/", method="post", unchanged=state, **pages
    )
    # The outsider's own member list shows only their organization.
    assert [m["username"] for m in charlie_api.get("/api/members/").json()["results"]] == ["charlie"]


def test_api_keys_list_members_but_do_not_manage_them(key_client, org_a, alice, bob):
    client = key_client(org_a)
    assert [m["username"] for m in client.get("/api/members/").json()["results"]] == ["alice", "bob"]
    bob_m = Membership.objects.get(user=bob, organization=org_a)
    assert client.delete(f"/api/members/{bob_m.pk}/").status_code == 403


def test_staff_create_organizations_and_sign_up_is_off_by_default(db, dave):
    staff = get_user_model().objects.create_user("sam", is_staff=True)
    assert portal(dave).get("/orgs/new/").status_code == 404
    assert portal().get("/signup/").status_code == 404
    created = portal(staff).post("/orgs/new/", {"slug": "initech", "name": "Initech", "owner": "dave"})
    assert created.status_code == 302
    assert Membership.objects.get(organization__slug="initech").user == dave
    with override_settings(SIGNUP_ENABLED=True):
        client = Client()
        response = client.post(
            "/signup/", {"username": "newbie", "password1": PASSWORD + "x", "password2": PASSWORD + "x"}
        )
        assert response.status_code == 302 and response["Location"] == "/orgs/new/"
        assert client.post("/orgs/new/", {"slug": "newbie-co"}).status_code == 302
        assert Membership.objects.get(organization__slug="newbie-co").role == Role.OWNER
        assert client.get("/orgs/new/").status_code == 404  # one self-service organization


def test_one_person_in_several_organizations_switches_between_them(alice, org_b, charlie):
    add_member(org_b, "alice", Role.VIEWER)
    client = portal(alice)
    page = client.get("/members/")
    assert (
        b'data-testid="member-alice"' in page.content and b'data-testid="member-charlie"' not in page.content
    )
    assert b"Globex Labs" in page.content  # offered by the organization switcher
    client.post("/orgs/switch/", {"org": "globex"})
    page = client.get("/members/")
    assert b'data-testid="member-charlie"' in page.content
    assert b"Invite someone" not in page.content  # a viewer there
