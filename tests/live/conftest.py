"""Live-monitoring fixtures: jobs without a worker, and a real ASGI server (daphne, tests.asgi).

The channel layer gets a prefix of this test run's own: the embedded Redis under var/test/ is shared by
every test run in this tree, and their job and org ids (each run has its own database) collide.
"""

from __future__ import annotations

import os

import pytest
from django.db import connections

from tests.asgi import test_server
from tests.training.conftest import tiny_model, tiny_model_dir  # noqa: F401 - fixtures
from training_app.models import BaseModel, TrainingJob

CHANNEL_PREFIX = f"tuneforge-live-{os.getpid()}"


@pytest.fixture(autouse=True)
def own_channel_layer(settings, monkeypatch):
    layers = {
        name: {**layer, "CONFIG": {**layer["CONFIG"], "prefix": CHANNEL_PREFIX}}
        for name, layer in settings.CHANNEL_LAYERS.items()
    }
    settings.CHANNEL_LAYERS = layers
    monkeypatch.setenv("CHANNEL_LAYER_PREFIX", CHANNEL_PREFIX)  # for daphne and worker subprocesses


@pytest.fixture
def base_model(db):
    return BaseModel.objects.create(name="tiny-base", path="/models/tiny", is_valid=True)


@pytest.fixture
def make_job(base_model):
    def make(org, name: str, **fields) -> TrainingJob:
        return TrainingJob.objects.create(organization=org, name=name, base_model=base_model, **fields)

    return make


@pytest.fixture
def asgi_server(transactional_db, own_channel_layer):
    with test_server("daphne-live-test.log") as server:
        yield server


@pytest.fixture
def page(page):
    """tests.browser's page, then closing the database connections the test opened: while Playwright's
    loop runs they live in a context of their own, where the test database teardown does not see them
    (PostgreSQL then refuses to drop a database "being accessed by other users")."""
    yield page
    connections.close_all()
