"""The supervisor keeps engines matching deployments: restarts crashes, reports failures, cleans up.

These use the built-in engine (a real process that starts in seconds) with the real supervisor and daphne.
"""

from __future__ import annotations

import os
import signal

import openai
import pytest
from openai import OpenAI

from llm_platform.models import ApiKey
from serving_app import services
from serving_app.models import Deployment, DeploymentStatus, Engine, EngineStatus
from serving_app.services.publish import ADAPTER_METHODS
from tests.serving.conftest import succeeded_job, train_adapter
from tests.serving.test_serving_e2e import ask, wait_ready
from tests.workers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def client(gateway, org_a):
    return OpenAI(base_url=f"{gateway.url}/v1", api_key=ApiKey.issue(org_a)[1], max_retries=0)


def test_a_crashed_engine_is_restarted_with_its_adapters(supervisor, client, org_a, tiny_model, adapters):
    job = succeeded_job(org_a, tiny_model, adapters["a"], "qa-plain")
    deployment = services.publish(org_a, job=job, engine="builtin")
    first = wait_ready("qa-plain").engine
    assert ask(client, "qa-plain") == "Paris."

    os.kill(first.pid, signal.SIGKILL)
    restarted = wait_for(
        lambda: Engine.objects.filter(pk=first.pk, restarts=1, status=EngineStatus.READY).first(),
        timeout=120,
        message="the engine to be restarted",
    )
    assert restarted.pid != first.pid and restarted.last_exit_code == -signal.SIGKILL
    assert "exited with code" in restarted.error
    wait_ready("qa-plain")
    assert ask(client, "qa-plain") == "Paris.", "the adapter was loaded again"
    job.refresh_from_db()
    assert job.status == "published"
    assert deployment.pk == Deployment.objects.get(name="qa-plain").pk


def test_an_adapter_that_cannot_be_loaded_fails_with_the_reason(
    supervisor, client, org_a, tiny_model, adapters
):
    job = succeeded_job(org_a, tiny_model, adapters["a"], "broken")
    job.artifacts = {"files": [{"path": "adapter_config.json", "name": "jobs/nowhere/adapter_config.json"}]}
    job.save(update_fields=["artifacts"])
    services.publish(org_a, job=job, engine="builtin")
    deployment = wait_for(
        lambda: Deployment.objects.filter(name="broken", status=DeploymentStatus.FAILED).first(),
        timeout=120,
        message="the deployment to fail",
    )
    assert "could not load the adapter" in deployment.error
    with pytest.raises(openai.InternalServerError) as refused:
        ask(client, "broken")
    assert refused.value.status_code == 503 and refused.value.body["code"] == "model_failed"
    job.refresh_from_db()
    assert job.status == "succeeded"


def test_a_full_fine_tune_runs_on_its_own_engine(supervisor, client, org_a, tiny_model, tiny_model_dir):
    assert "full" not in ADAPTER_METHODS
    job = succeeded_job(
        org_a, tiny_model, train_adapter(tiny_model_dir, "a", method="full"), "qa-full", "full"
    )
    services.publish(org_a, job=job, engine="builtin")
    deployment = wait_ready("qa-full")
    assert deployment.engine.base_model is None and deployment.engine.model_name == deployment.engine_name
    assert ask(client, "qa-full") == "Paris."
    services.unpublish(deployment)
    wait_for(
        lambda: not Engine.objects.filter(pk=deployment.engine_id).exists(),
        timeout=60,
        message="its engine to be stopped and removed",
    )
