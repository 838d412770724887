"""The platform's one retry helper against a really locked (or cut off) test database.

Each test runs in autocommit mode (``transaction=True``): the lock is held by a connection of its own
(``tests.db_outage``), and this process's connection is made impatient, so a write fails quickly and the
helper's retries, not the database's own lock wait, carry it through.
"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, OperationalError, connection

from llm_platform.db import retrying
from llm_platform.models import ApiKey, Organization
from serving_app.gateway.errors import GatewayError
from serving_app.gateway.routing import authenticate_and_resolve
from tests.db_outage import POSTGRES, database_held, vendor

pytestmark = pytest.mark.django_db(transaction=True)
ORGS = [Organization._meta.db_table]
KEYS = [ApiKey._meta.db_table]


@pytest.fixture
def impatient(monkeypatch):
    """This process's connections wait 0.1 s for a lock instead of seconds, then fail."""
    options = connection.settings_dict["OPTIONS"]
    if vendor() == POSTGRES:
        monkeypatch.setitem(options, "options", "-c lock_timeout=100")
    else:
        monkeypatch.setitem(options, "timeout", 0.1)
    connection.close()
    yield
    connection.close()  # the next test connects with the usual options


class Counted:
    """A write that counts how often it was tried."""

    def __init__(self, org: Organization, name: str):
        self.org, self.name, self.tries = org, name, 0

    def __call__(self) -> int:
        self.tries += 1
        return Organization.objects.filter(pk=self.org.pk).update(name=self.name)


def test_a_write_refused_by_a_lock_is_retried_until_the_lock_goes(org_a, impatient):
    write = Counted(org_a, "renamed while locked")
    with database_held(ORGS, release_after=1.5):
        assert retrying(write, what="a test write") == 1
    assert write.tries >= 2  # refused at least once, then written
    assert Organization.objects.get(pk=org_a.pk).name == "renamed while locked"


def test_a_lock_that_outlasts_the_retry_time_fails_the_write(org_a, impatient, settings):
    settings.DATABASE_RETRY_SECONDS = 1
    write = Counted(org_a, "never")
    with database_held(ORGS), pytest.raises(OperationalError):
        retrying(write, what="a test write")
    assert write.tries >= 2
    assert Organization.objects.get(pk=org_a.pk).name != "never"


def test_errors_that_would_happen_again_are_not_retried(org_a, org_b):
    tries = []

    def duplicate():
        tries.append(1)
        return Organization.objects.create(slug=org_b.slug, name="twin")

    with pytest.raises(IntegrityError):
        retrying(duplicate, what="a duplicate")
    assert len(tries) == 1


@pytest.mark.skipif("vendor() != POSTGRES", reason="SQLite has no connection to lose")
def test_a_dropped_connection_is_replaced_and_the_write_done(org_a):
    write = Counted(org_a, "after a reconnect")
    Organization.objects.count()  # this process's connection is open
    with database_held(ORGS, mode="ROW SHARE") as outage:
        spared = connection.connection.info.backend_pid
        outage.conn.execute("SELECT pg_terminate_backend(%s)", [spared])
    assert retrying(write, what="a test write") == 1
    assert write.tries == 2
    assert Organization.objects.get(pk=org_a.pk).name == "after a reconnect"


def test_a_locked_database_skips_a_keys_last_use_but_answers_the_request(org_a, key_client):
    client = key_client(org_a)
    key = ApiKey.objects.get()
    # EXCLUSIVE (PostgreSQL): the key can still be read, not written. SQLite: nothing can be written.
    with database_held(KEYS, mode="EXCLUSIVE"):
        response = client.get("/api/org/")
        assert response.status_code == 200, response.content
        with pytest.raises(GatewayError) as refused:  # the lean gateway's path: key, then model lookup
            authenticate_and_resolve(client._credentials["HTTP_AUTHORIZATION"], "no-such-model")
        assert refused.value.status == 404
        assert ApiKey.objects.get(pk=key.pk).last_used_at is None  # skipped, not waited for
    assert client.get("/api/org/").status_code == 200
    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None  # written once the database is back
