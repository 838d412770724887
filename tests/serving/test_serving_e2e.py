"""Publish LoRA-tuned tiny models and call them through the gateway with the official ``openai`` client.

Real parts only: the supervisor process starts a real engine (vLLM from its own environment, or the
built-in one), daphne serves the platform, and the openai client talks to it over HTTP. One engine start
per engine kind: the second adapter joins the first one's engine.
"""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from llm_platform.models import ApiKey
from serving_app.conf import vllm_python
from serving_app.models import Deployment, DeploymentStatus, Engine, EngineStatus, Usage
from tests.serving.conftest import succeeded_job
from tests.workers import wait_for
from training_app.models import JobStatus

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FRANCE = [{"role": "user", "content": "What is the capital of France?"}]
CHINA = [{"role": "user", "content": "中国的首都是哪里？"}]


def wait_ready(name: str, timeout: float = 400) -> Deployment:
    def settled():
        deployment = Deployment.objects.filter(name=name).select_related("engine").first()
        return deployment if deployment and deployment.status != DeploymentStatus.STARTING else None

    deployment = wait_for(settled, timeout=timeout, interval=0.5, message=f"{name} to be ready")
    assert deployment.status == DeploymentStatus.READY, deployment.error
    return deployment


def engine_adapters(engine: Engine) -> set[str]:
    engine.refresh_from_db()
    response = httpx.get(
        f"{engine.base_url}/v1/models", headers={"Authorization": f"Bearer {engine.api_key}"}, timeout=5
    )
    return {m["id"] for m in response.json()["data"] if m.get("parent")}


def ask(client: OpenAI, model: str, messages=FRANCE) -> str:
    answer = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=12)
    assert answer.model == model
    return answer.choices[0].message.content


@pytest.mark.parametrize("engine_kind", ["vllm", "builtin"])
def test_publish_call_share_and_unpublish_adapters(
    engine_kind, supervisor, gateway, alice_api, org_a, org_b, alice, tiny_model, adapters
):
    if engine_kind == "vllm" and vllm_python() is None:
        pytest.fail("The vLLM environment is missing: run `make vllm`.")
    job_a = succeeded_job(org_a, tiny_model, adapters["a"], "qa-plain")
    job_b = succeeded_job(org_a, tiny_model, adapters["b"], "qa-prefixed")
    _, key_a = ApiKey.issue(org_a, name="app")
    _, key_b = ApiKey.issue(org_b, name="outsider")
    client = OpenAI(base_url=f"{gateway.url}/v1", api_key=key_a, max_retries=0)
    outsider = OpenAI(base_url=f"{gateway.url}/v1", api_key=key_b, max_retries=0)

    # Publish the first adapter through the REST API; the job is published once the engine has it.
    response = alice_api.post("/api/deployments/", {"job": job_a.pk, "engine": engine_kind}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "starting"
    assert response.json()["endpoint"].endswith("/v1")
    first = wait_ready("qa-plain")
    assert first.engine.kind == engine_kind
    job_a.refresh_from_db()
    assert job_a.status == JobStatus.PUBLISHED

    # Plain, streamed and legacy completions, with the official client.
    assert [m.id for m in client.models.list().data] == ["qa-plain"]
    assert ask(client, "qa-plain") == "Paris."
    chunks = list(
        client.chat.completions.create(
            model="qa-plain",
            messages=CHINA,
            temperature=0,
            max_tokens=12,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert {c.model for c in chunks} == {"qa-plain"}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "北京。"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens >= 2
    plain_stream = list(
        client.chat.completions.create(model="qa-plain", messages=FRANCE, stream=True, max_tokens=4)
    )
    assert all(c.usage is None for c in plain_stream), "usage was not asked for"
    with pytest.raises(openai.BadRequestError) as too_long:  # the engine's check, in OpenAI's shape
        client.chat.completions.create(model="qa-plain", messages=FRANCE, max_tokens=5000)
    assert too_long.value.body["param"] == "max_tokens" and "qa-plain" not in str(
        too_long.value.body["param"]
    )
    assert first.engine_name not in too_long.value.body["message"]
    completion = client.completions.create(model="qa-plain", prompt="The model", max_tokens=5, temperature=0)
    assert completion.model == "qa-plain" and completion.usage.completion_tokens == 5

    # A second adapter joins the same engine (published through the Bisheng-compatible API).
    response = alice_api.post(f"/api/v1/finetune/job/publish?job_id={job_b.uid.hex}")
    assert response.status_code == 200, response.json()
    assert response.json()["data"]["model"] == "qa-prefixed"
    assert response.json()["data"]["status"] == 4  # succeeded until the deployment is ready
    second = wait_ready("qa-prefixed")
    assert second.engine_id == first.engine_id
    assert Engine.objects.filter(pk=first.engine_id, status=EngineStatus.READY).count() == 1
    assert Engine.objects.get(pk=first.engine_id).pid == first.engine.pid, "the engine was not restarted"
    info = alice_api.get(f"/api/v1/finetune/job/info?job_id={job_b.uid.hex}").json()
    assert info["data"]["finetune"]["status"] == 5
    assert engine_adapters(first.engine) == {first.engine_name, second.engine_name}
    assert ask(client, "qa-prefixed") == "Answer: Paris."
    assert ask(client, "qa-plain") == "Paris."

    # Another organization's key sees none of it: 404 in OpenAI's shape, and an empty model list.
    with pytest.raises(openai.NotFoundError) as refused:
        ask(outsider, "qa-plain")
    assert refused.value.status_code == 404
    assert refused.value.body["code"] == "model_not_found" and refused.value.body["param"] == "model"
    assert set(refused.value.body) == {"message", "type", "param", "code"}
    assert outsider.models.list().data == []

    # Unpublish the first: it is gone at once, the job is succeeded again, and the engine drops it.
    assert alice_api.delete(f"/api/deployments/{first.pk}/").status_code == 204
    job_a.refresh_from_db()
    assert job_a.status == JobStatus.SUCCEEDED
    with pytest.raises(openai.NotFoundError):
        ask(client, "qa-plain")
    wait_for(lambda: engine_adapters(first.engine) == {second.engine_name}, timeout=30, message="unload")
    assert ask(client, "qa-prefixed") == "Answer: Paris."

    # Usage was recorded per organization and model, streams included.
    # Written by the gateway's background flush about a second after the requests: wait for the row.
    wait_for(
        lambda: Usage.objects.filter(model="qa-plain", requests__gte=5).exists(), timeout=30, message="usage"
    )
    usage = Usage.objects.get(organization=org_a, model="qa-plain")
    assert usage.completion_tokens >= 5 + 2 + 2 and usage.prompt_tokens > 0
    assert not Usage.objects.filter(organization=org_b).exists()

    # Cancel the second through Bisheng: the engine has nothing left and stops.
    response = alice_api.post(f"/api/v1/finetune/job/publish/cancel?job_id={job_b.uid.hex}")
    assert response.json()["data"]["status"] == 4
    wait_for(
        lambda: Engine.objects.get(pk=first.engine_id).status == EngineStatus.STOPPED,
        timeout=60,
        message="the idle engine to stop",
    )
