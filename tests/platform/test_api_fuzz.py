"""Schema-driven fuzzing: every operation documented at ``/api/schema/`` (our API, the Bisheng-compatible
API and the OpenAI-compatible gateway), called in-process through Django's WSGI application with an API key
of an organization member, with values schemathesis derives from the schema (valid and invalid ones).

Every answer must not be a 5xx, must carry a status the operation documents, and its body must match the
documented schema for that status (errors included: each API's own error shape). Generation is
derandomized and bounded per operation, so a run is reproducible and takes about a minute here.

Nothing is left out. The gateway has no running engine here, so its completions answer 400/404 in OpenAI's
shape (documented), never a relay. The upload operations get the small bodies schemathesis makes; large
and hostile files have their own corpus tests (tests/datasets/).
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from llm_platform.models import ApiKey, Role
from tests.training.conftest import make_dataset, sft_rows
from training_app import services
from training_app.models import BaseModel

EXAMPLES_PER_OPERATION = 10
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def api_key(org_a, alice):
    """A member's key, and a few rows for the generated ids to find (small ids are generated often)."""
    dataset = make_dataset(org_a, sft_rows(1))
    model = BaseModel.objects.create(
        name="fuzz-model", path="/nonexistent", enabled_for_all=True, is_valid=True
    )
    services.create_job(
        org_a, alice, name="fuzz-job", base_model=model, datasets=[services.DatasetChoice(dataset)]
    )
    return ApiKey.issue(org_a, name="fuzz", role=Role.MEMBER)[1]


@pytest.fixture(autouse=True)
def _keep_the_test_connection(db):
    """As Django's test client does: the request cycle must not close the connection of the test's
    transaction (WSGI's request_finished would, seeing autocommit off)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# Loaded at collection through the WSGI application, as a client reads it: the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as generated
    suppress_health_check=list(HealthCheck),
)
def test_every_documented_operation_answers_as_documented(case, api_key):
    case.call_and_validate(headers={"Authorization": f"Bearer {api_key}"}, checks=CHECKS)


def test_the_schema_documents_all_three_apis_without_a_warning(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    paths = set(schema.raw_schema["paths"])
    assert {"/api/jobs/", "/api/v1/finetune/job", "/v1/chat/completions", "/v1/models/{model}"} <= paths
    assert out.stat().st_size > 0
