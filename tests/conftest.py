"""Shared fixtures: real Redis (embedded when REDIS_URL is unset), and healthchecks-style actors.

alice owns org A, bob is a member of A, vera is a viewer of A, charlie is an outsider who owns org B.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from llm_platform.models import ApiKey, Role
from llm_platform.services import add_member, create_organization

pytest_plugins = ["tests.workers", "tests.browser"]

PASSWORD = "correct-horse-battery-staple"

# Workers of this test run register their devices under this host name, so their RQ queues are this
# run's own even when another test run shares the machine's Redis.
os.environ.setdefault("TUNEFORGE_HOST", f"test-{os.getpid()}")


@pytest.fixture(scope="session", autouse=True)
def redis_server():
    """The real Redis the platform is configured with; the embedded one is started for the session."""
    if settings.EMBEDDED_REDIS:
        from llm_platform import redis_embedded

        started = redis_embedded.start()
        yield settings.REDIS_URL
        if started:
            redis_embedded.stop()
    else:
        yield settings.REDIS_URL


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """SQLite runs in WAL mode: a killed run may have left the log of a test database of the same name
    (the same process id), which SQLite would replay into the new one."""
    name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if name and settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        for suffix in ("-wal", "-shm"):
            Path(f"{name}{suffix}").unlink(missing_ok=True)


@pytest.fixture
def org_a(db):
    return create_organization("acme", "Acme Research")[0]


@pytest.fixture
def org_b(db):
    return create_organization("globex", "Globex Labs")[0]


def _user(org, username, role):
    membership, _ = add_member(org, username, role, password=PASSWORD)
    return membership.user


@pytest.fixture
def alice(org_a):
    return _user(org_a, "alice", Role.OWNER)


@pytest.fixture
def bob(org_a):
    return _user(org_a, "bob", Role.MEMBER)


@pytest.fixture
def vera(org_a):
    return _user(org_a, "vera", Role.VIEWER)


@pytest.fixture
def charlie(org_b):
    return _user(org_b, "charlie", Role.OWNER)


def _api_client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def anon_api():
    return _api_client()


@pytest.fixture
def alice_api(alice):
    return _api_client(alice)


@pytest.fixture
def bob_api(bob):
    return _api_client(bob)


@pytest.fixture
def vera_api(vera):
    return _api_client(vera)


@pytest.fixture
def charlie_api(charlie):
    return _api_client(charlie)


@pytest.fixture
def key_client():
    """``key_client(org)`` -> an APIClient that authenticates with a new API key of ``org``."""

    def make(org, role=Role.MEMBER) -> APIClient:
        _key, raw = ApiKey.issue(org, name="test", role=role)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    return make
