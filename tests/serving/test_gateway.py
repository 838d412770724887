"""The gateway's answers before any engine is involved: keys, names, statuses, OpenAI's error shape."""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings

from llm_platform.models import ApiKey
from serving_app import services
from serving_app.engine.process import free_port
from serving_app.models import Engine, EngineStatus
from tests.serving.conftest import succeeded_job

pytestmark = pytest.mark.django_db
OPENAI_ERROR_KEYS = {"message", "type", "param", "code"}


@pytest.fixture
def deployment(org_a, tiny_model, adapters):
    job = succeeded_job(org_a, tiny_model, adapters["a"], "qa-plain")
    return services.publish(org_a, job=job, engine="builtin")


def key(org) -> str:
    return ApiKey.issue(org, name="gateway test")[1]


def chat(client: Client, api_key: str | None, body) -> tuple[int, dict]:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"} if api_key else {}
    raw = body if isinstance(body, str) else json.dumps(body)
    response = client.post("/v1/chat/completions", raw, content_type="application/json", **headers)
    payload = json.loads(response.content)
    assert set(payload) == {"error"} and set(payload["error"]) == OPENAI_ERROR_KEYS, payload
    return response.status_code, payload["error"]


def ask(model: str) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "Hi"}]}


def test_keys_are_required_and_checked(client, deployment):
    status, error = chat(client, None, ask("qa-plain"))
    assert status == 401 and error["code"] == "invalid_api_key"
    status, error = chat(client, "tf_abc_not-a-real-key", ask("qa-plain"))
    assert status == 401 and "Incorrect" in error["message"]
    revoked = ApiKey.issue(deployment.organization)
    revoked[0].revoke()
    assert chat(client, revoked[1], ask("qa-plain"))[0] == 401


def test_another_organizations_model_is_not_found(client, deployment, org_b):
    outsider = key(org_b)
    status, theirs = chat(client, outsider, ask("qa-plain"))
    _, nobodys = chat(client, outsider, ask("no-such-model"))
    assert status == 404
    assert theirs == {**nobodys, "message": nobodys["message"].replace("no-such-model", "qa-plain")}
    assert theirs["code"] == "model_not_found" and theirs["param"] == "model"
    listing = client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {outsider}")
    assert listing.json() == {"object": "list", "data": []}
    detail = client.get("/v1/models/qa-plain", HTTP_AUTHORIZATION=f"Bearer {outsider}")
    assert detail.status_code == 404 and detail.json()["error"]["code"] == "model_not_found"


def test_models_of_the_caller_are_listed(client, deployment, org_a):
    mine = key(org_a)
    listing = client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {mine}").json()
    assert [(m["id"], m["owned_by"], m["status"]) for m in listing["data"]] == [
        ("qa-plain", "acme", "starting")
    ]
    detail = client.get("/v1/models/qa-plain", HTTP_AUTHORIZATION=f"Bearer {mine}").json()
    assert detail["id"] == "qa-plain" and detail["object"] == "model"


def test_bad_requests_say_what_to_fix(client, deployment, org_a):
    mine = key(org_a)
    status, error = chat(client, mine, "{not json")
    assert status == 400 and error["code"] == "invalid_json"
    status, error = chat(client, mine, [1, 2])
    assert status == 400 and "JSON object" in error["message"]
    status, error = chat(client, mine, {"messages": []})
    assert status == 400 and error["param"] == "model"
    response = client.get("/v1/chat/completions", HTTP_AUTHORIZATION=f"Bearer {mine}")
    assert response.status_code == 405 and response["Allow"] == "POST"
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        status, error = chat(client, mine, {**ask("qa-plain"), "padding": "x" * 2000})
    assert status == 413 and error["code"] == "request_too_large"


def test_a_model_that_is_not_ready_answers_503_with_a_reason(client, deployment, org_a):
    mine = key(org_a)
    status, error = chat(client, mine, ask("qa-plain"))
    assert status == 503 and error["code"] == "model_not_ready"
    response = client.post(
        "/v1/completions",
        json.dumps({"model": "qa-plain", "prompt": "x"}),
        "application/json",
        HTTP_AUTHORIZATION=f"Bearer {mine}",
    )
    assert response.status_code == 503 and response["Retry-After"] == "5"
    services.mark_failed(deployment.pk, "The engine could not load the adapter: bad file")
    status, error = chat(client, mine, ask("qa-plain"))
    assert status == 503 and error["code"] == "model_failed" and "bad file" in error["message"]


def test_an_engine_that_went_away_answers_503(client, deployment, org_a):
    # Ready on paper, but nothing listens on its port: the gateway says so instead of failing.
    Engine.objects.filter(pk=deployment.engine_id).update(
        status=EngineStatus.READY, base_url=f"http://127.0.0.1:{free_port()}", api_key="k"
    )
    services.mark_ready(deployment.pk)
    status, error = chat(client, key(org_a), ask("qa-plain"))
    assert status == 503 and error["code"] == "engine_unavailable"
