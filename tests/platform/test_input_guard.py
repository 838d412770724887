"""Inputs that used to answer 500, on representative endpoints of each API: now a 4xx naming the field.

Lone surrogates, 5,000-digit integers, Unicode digits (``"²"``), numbers beyond 64 bits, a body that is a
list or a string, 100,000 levels of nesting, 10^30 where a column holds 32 bits: each in our API's
``{"error": {...,"fields"}}``, Bisheng's ``{status_code, status_message, data}`` and OpenAI's
``{"error": {message, type, param, code}}``; and nothing was written for a refused request.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync

from llm_platform.models import ApiKey
from serving_app.gateway.asgi import GatewayApplication
from tests.serving.test_gateway import Front
from tests.training.conftest import make_dataset, sft_rows
from training_app import services
from training_app.models import BaseModel, TrainingJob

pytestmark = pytest.mark.django_db

SURROGATE = '"\\ud800"'  # JSON text of an escaped lone surrogate
DIGITS_5000 = "7" * 5000
BEYOND_64_BITS = str(2**70)
NESTED = "[" * 100_000 + "]" * 100_000
HUGE = 10**30


@pytest.fixture
def setup(org_a, alice):
    dataset = make_dataset(org_a, sft_rows(1))
    model = BaseModel.objects.create(
        name="guard-model", path="/nonexistent", enabled_for_all=True, is_valid=True
    )
    job = services.create_job(
        org_a, alice, name="guard-job", base_model=model, datasets=[services.DatasetChoice(dataset)]
    )
    return {"dataset": dataset, "model": model, "job": job}


@pytest.fixture
def api(org_a, key_client):
    return key_client(org_a)


def post_raw(client, url: str, text: str, method: str = "post"):
    return getattr(client, method)(
        url, data=text.encode("utf-8", "surrogatepass"), content_type="application/json"
    )


def job_body(setup, **changes) -> dict:
    body = {
        "name": "new-job",
        "base_model": "guard-model",
        "datasets": [{"dataset": str(setup["dataset"].pk)}],
    }
    return {**body, **changes}


def own_fields(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    assert error["status"] == status and error["message"]
    return error["fields"]


def bisheng_data(response, status: int = 400):
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"status_code", "status_message", "data"} and body["status_code"] == status
    return body["data"]


# --- our API --------------------------------------------------------------------------------------------

# Each list is walked inside one test (one set of fixtures): the cases are cheap, the fixtures are not.
UNREADABLE_JSON = [
    ('{"name": ' + SURROGATE + "}", "name"),
    ('{"name": "x", "hyperparameters": {"save_steps": ' + DIGITS_5000 + "}}", "hyperparameters.save_steps"),
    ('{"name": "x", "seed": ' + str(HUGE) + "}", "seed"),
    ('{"datasets": [{"dataset": "1", "num_samples": ' + str(HUGE) + "}]}", "datasets[0].num_samples"),
    ('{"name": "x", "learning_rate": 1e999}', "learning_rate"),
    ("[]", "body"),
    ('"a string"', "body"),
    (NESTED, "body"),
    ('{"a":' * 100_000 + "1" + "}" * 100_000, "body"),
]
BEYOND_A_COLUMN = [
    ({"seed": str(HUGE)}, "seed"),  # a string the serializer reads as a number: the column's bound
    ({"base_model": "²"}, "base_model"),
    ({"base_model": DIGITS_5000}, "base_model"),
    ({"datasets": [{"dataset": DIGITS_5000}]}, "datasets[0]"),
]
BAD_NUMBERS = ["²", DIGITS_5000, BEYOND_64_BITS, "-1"]


def test_unreadable_json_is_a_400_naming_the_field(api, setup):
    for text, field in UNREADABLE_JSON:
        assert field in own_fields(post_raw(api, "/api/jobs/", text)), text[:80]
    for changes, field in BEYOND_A_COLUMN:
        assert field in own_fields(api.post("/api/jobs/", job_body(setup, **changes), format="json")), changes
    assert TrainingJob.objects.count() == 1


def test_query_numbers_are_ascii_and_bounded(api, setup):
    job, dataset = setup["job"], setup["dataset"]
    for value in BAD_NUMBERS:
        assert "after_seq" in own_fields(api.get(f"/api/jobs/{job.pk}/events/", {"after_seq": value}))
        assert "page" in own_fields(api.get("/api/jobs/", {"page": value}))
        assert "page_size" in own_fields(api.get("/api/datasets/", {"page_size": value}))
        assert "page" in own_fields(api.get(f"/api/datasets/{dataset.pk}/preview/", {"page": value}))


def test_ids_in_paths_that_no_route_matches_are_json_404s(api, setup):
    for path in ("/api/jobs/²/", f"/api/jobs/{BEYOND_64_BITS}/", "/api/jobs/0.5/", "/api/datasets/-1/"):
        response = api.get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", path
    assert bisheng_data(api.get("/api/v1/finetune/nothing"), 404) is None


# --- the Bisheng-compatible API ---------------------------------------------------------------------------


def test_bisheng_bodies_that_are_not_objects_or_not_text_are_400s(api, setup):
    for text in ["[]", '"x"', "3", NESTED, '{"job_id": ' + SURROGATE + "}"]:
        data = bisheng_data(post_raw(api, "/api/v1/finetune/job/cancel", text))
        assert data and set(data) <= {"body", "job_id"}, text[:80]
    assert TrainingJob.objects.get().status == "queued"


def test_bisheng_job_ids_and_pages(api, setup):
    for value in ["²", DIGITS_5000, BEYOND_64_BITS]:
        assert bisheng_data(api.get("/api/v1/finetune/job/info", {"job_id": value}), 404) is None
        retry = post_raw(api, "/api/v1/finetune/job/retry", json.dumps({"job_id": value}))
        assert bisheng_data(retry, 404) is None
        assert "page" in bisheng_data(api.get("/api/v1/finetune/job", {"page": value}))
        assert "limit" in bisheng_data(api.get("/api/v1/finetune/job", {"limit": value}))
        assert "page_num" in bisheng_data(api.get("/api/v1/finetune/job/file/preset", {"page_num": value}))
        assert "status" in bisheng_data(api.get("/api/v1/finetune/job", {"status": value}))


def test_bisheng_job_with_numbers_beyond_a_column(api, setup):
    body = {
        "base_model": "guard-model",
        "model_name": "from-bisheng",
        "train_data": [{"url": f"dataset://{setup['dataset'].uid}", "num": HUGE}],
    }
    assert "train_data[0].num" in bisheng_data(post_raw(api, "/api/v1/finetune/job", json.dumps(body)))
    body["train_data"][0]["num"] = str(HUGE)
    assert "train_data" in bisheng_data(api.post("/api/v1/finetune/job", body, format="json"))
    assert TrainingJob.objects.count() == 1


# --- the OpenAI-compatible gateway: the lean ASGI app and the Django view ------------------------------


@pytest.fixture(params=["asgi", "django"])
def front(request, client) -> Front:
    return Front(request.param, client)


GATEWAY_CASES = [
    ('{"model": ' + SURROGATE + ', "messages": []}', "model", "invalid_value"),
    ('{"model": "m", "messages": [], "seed": ' + str(HUGE) + "}", "seed", "invalid_value"),
    ('{"model": "m", "messages": [], "max_tokens": ' + DIGITS_5000 + "}", "max_tokens", "invalid_value"),
    (
        '{"model": "m", "messages": [{"role": "user", "content": ' + SURROGATE + "}]}",
        "messages[0].content",
        None,
    ),
    ("[]", None, "invalid_json"),
    ('"hello"', None, "invalid_json"),
    (NESTED, None, "invalid_json"),
]


def test_gateway_names_the_param_in_openais_shape(front, org_a):
    api_key = ApiKey.issue(org_a, name="gateway")[1]
    for text, param, code in GATEWAY_CASES:
        raw = text.encode("utf-8", "surrogatepass")
        response = front.request("POST", "/v1/chat/completions", raw, api_key)
        assert response.status_code == 400, (text[:80], response.content[:300])
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
        assert (error["param"], error["code"]) == (param, code or "invalid_value"), text[:80]


def test_lean_gateway_reads_a_content_length_of_unicode_digits_as_no_length():
    # Header bytes are latin-1: b"\xb2" is "²", which str.isdigit() accepts and int() refuses.
    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    assert async_to_sync(GatewayApplication.read_body)(receive, b"\xb2".decode("latin-1")) == b"{}"


# --- the portal -------------------------------------------------------------------------------------------


def test_portal_pages_and_ids(client, alice, setup):
    client.force_login(alice)
    response = client.get("/datasets/", {"page": DIGITS_5000})
    assert response.status_code == 400 and b"page" in response.content
    assert client.get(f"/datasets/{setup['dataset'].pk}/preview/", {"page": "²"}).status_code == 400
    for value in ("²", BEYOND_64_BITS, DIGITS_5000):
        assert client.get("/training/compare/", {"jobs": value}).status_code == 404
