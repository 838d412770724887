"""The supervisor keeps engines matching deployments: restarts crashes, reports failures, cleans up.

These use the built-in engine (a real process that starts in seconds) with the real supervisor and daphne.
"""

from __future__ import annotations

import os
import signal
import time

import httpx
import openai
import pytest
from openai import OpenAI

from llm_platform.models import ApiKey
from serving_app import services
from serving_app.models import Deployment, DeploymentStatus, Engine, EngineStatus
from serving_app.services.publish import ADAPTER_METHODS
from tests.serving.conftest import succeeded_job, train_adapter
from tests.serving.test_serving_e2e import FRANCE, ask, wait_ready
from tests.workers import wait_for
from training_app.models import TrainingJob

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def client(gateway, org_a):
    return OpenAI(base_url=f"{gateway.url}/v1", api_key=ApiKey.issue(org_a)[1], max_retries=0)


def call(gateway, key: str, model: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "messages": FRANCE, "temperature": 0, "max_tokens": 12},
        timeout=60,
    )


def openai_error(response: httpx.Response) -> dict:
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "server_error", error
    return error


def answers_once_back(gateway, key: str, model: str) -> int:
    """Call ``model`` until it answers; every refusal before that must tell the caller to retry (a 503
    with Retry-After), never a 500 or 502, never a hang. Returns the number of refusals."""
    refused = 0
    deadline = time.monotonic() + 120
    while (response := call(gateway, key, model)).status_code != 200:
        assert response.status_code == 503, (response.status_code, response.text)
        assert int(response.headers["Retry-After"]) > 0
        assert openai_error(response)["code"] in ("engine_unavailable", "model_not_ready")
        refused += 1
        assert time.monotonic() < deadline, "the engine did not come back"
        time.sleep(0.2)
    return refused


@pytest.mark.parametrize("supervisor_overrides", [{"SERVING_MAX_RESTARTS": "1"}])
def test_a_killed_engine_comes_back_with_both_adapters_then_gives_up_past_its_restarts(
    supervisor, gateway, client, org_a, tiny_model, adapters
):
    jobs = {label: succeeded_job(org_a, tiny_model, adapters[label], f"qa-{label}") for label in "ab"}
    for job in jobs.values():
        services.publish(org_a, job=job, engine="builtin")
    first = wait_ready("qa-a").engine
    assert wait_ready("qa-b").engine_id == first.pk
    key = ApiKey.issue(org_a)[1]

    # Killed while it streams an answer: the caller gets OpenAI's mid-stream error event, not a hang.
    stream = client.with_options(timeout=30).completions.create(
        model="qa-a", prompt="The model", max_tokens=200, temperature=1.0, seed=7, stream=True
    )
    with pytest.raises(openai.APIError) as cut:
        for index, _chunk in enumerate(stream):
            if index == 0:
                os.kill(first.pid, signal.SIGKILL)
    assert not isinstance(cut.value, openai.APITimeoutError), "the stream hung"
    assert cut.value.body["code"] == "engine_unavailable", cut.value.body
    assert answers_once_back(gateway, key, "qa-b") > 0, "a killed engine cannot answer at once"
    restarted = Engine.objects.get(pk=first.pk)
    assert restarted.status == EngineStatus.READY and restarted.restarts == 1
    assert restarted.pid != first.pid and restarted.last_exit_code == -signal.SIGKILL
    assert "exited with code" in restarted.error
    wait_ready("qa-a")
    assert ask(client, "qa-a") == "Paris." and ask(client, "qa-b") == "Answer: Paris.", "both loaded again"
    assert set(TrainingJob.objects.values_list("status", flat=True)) == {"published"}

    # Past SERVING_MAX_RESTARTS the supervisor stops trying: the deployments fail, saying why.
    os.kill(restarted.pid, signal.SIGKILL)
    wait_for(
        lambda: Deployment.objects.filter(status=DeploymentStatus.FAILED).count() == 2,
        timeout=60,
        message="both deployments to fail",
    )
    assert all("giving up" in d.error for d in Deployment.objects.all())
    response = call(gateway, key, "qa-a")
    assert response.status_code == 503 and openai_error(response)["code"] == "model_failed"
    engine = Engine.objects.get(pk=first.pk)
    assert engine.status == EngineStatus.FAILED and engine.pid is None and engine.restarts == 2
    assert set(TrainingJob.objects.values_list("status", flat=True)) == {"succeeded"}


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
