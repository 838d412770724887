from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from llm_platform.models import ApiKey, Membership, Organization

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_org_add_member_and_key_script_a_tenant(anon_api):
    assert "created: research" in run("create_org", "research", "--name", "Research")
    assert "exists: research" in run("create_org", "research")
    assert "created user and added dana to research as admin" in run(
        "add_member", "research", "dana", "--role", "admin"
    )
    assert "added dana to research as viewer" in run("add_member", "research", "dana", "--role", "viewer")
    assert Membership.objects.get(user__username="dana").role == "viewer"

    output = run("create_api_key", "--org", "research", "--name", "etl")
    raw = output.strip().splitlines()[-1]
    assert ApiKey.objects.get(name="etl").prefix in raw
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert anon_api.get("/api/org/").json()["slug"] == "research"


def test_commands_refuse_bad_input_clearly():
    with pytest.raises(CommandError, match="slug"):
        run("create_org", "Bad Slug!")
    with pytest.raises(CommandError, match="No organization"):
        run("add_member", "missing", "x")
    with pytest.raises(CommandError, match="No organization"):
        run("create_api_key", "--org", "missing")
    assert not Organization.objects.exists()


def test_bootstrap_demo_is_idempotent_and_prints_a_working_login(client):
    first = run("bootstrap_demo")
    second = run("bootstrap_demo")
    line = [ln for ln in first.splitlines() if ln.startswith("Demo login:")][0]
    assert line in second
    username, password = line.split(":", 1)[1].split("(")[0].strip().split(" / ")
    assert client.login(username=username, password=password)
    assert Organization.objects.filter(slug="demo").count() == 1
