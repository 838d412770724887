"""The gateway's answers before any engine is involved: keys, names, statuses, OpenAI's error shape.

Every check runs through both front ends: the lean ASGI application that daphne runs for ``/v1/``
(``llm_platform.asgi.application``, driven here in-process) and the Django views (WSGI, test client).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection
from django.test import Client, override_settings

from llm_platform.asgi import application
from llm_platform.models import ApiKey, Organization
from serving_app import services
from serving_app.engine.process import free_port
from serving_app.models import Engine, EngineStatus
from tests.serving.conftest import succeeded_job

pytestmark = pytest.mark.django_db
OPENAI_ERROR_KEYS = {"message", "type", "param", "code"}


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status_code, self.headers, self.content = status, headers, body

    def __getitem__(self, name: str) -> str:
        return self.headers[name.lower()]

    def json(self):
        return json.loads(self.content)


async def call_asgi(app, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> Reply:
    """One HTTP request through an ASGI application, the way daphne delivers it."""
    raw = [(b"host", b"localhost")] + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if body:
        raw.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }
    sent = False
    start, chunks = {}, []

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the caller stays until the answer is complete

    async def send(message):
        if message["type"] == "http.response.start":
            start.update(message)
        else:
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return Reply(start["status"], headers, b"".join(chunks))


class Front:
    """``get``/``post`` with an optional API key, through one of the two front ends."""

    def __init__(self, kind: str, client: Client):
        self.kind, self.client = kind, client

    def request(self, method: str, path: str, body: bytes = b"", api_key: str | None = None) -> Reply:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        if self.kind == "asgi":
            if body:
                headers["Content-Type"] = "application/json"
            return async_to_sync(call_asgi)(application, method, path, body, headers)
        extra = {"HTTP_AUTHORIZATION": headers["Authorization"]} if api_key else {}
        if method == "GET":
            response = self.client.get(path, **extra)
        else:
            response = self.client.generic(method, path, body, "application/json", **extra)
        return Reply(response.status_code, {k.lower(): v for k, v in response.items()}, response.content)

    def get(self, path: str, api_key: str | None = None) -> Reply:
        return self.request("GET", path, api_key=api_key)

    def post(self, path: str, body, api_key: str | None = None) -> Reply:
        raw = body if isinstance(body, str) else json.dumps(body)
        return self.request("POST", path, raw.encode(), api_key)


@pytest.fixture(params=["asgi", "django"])
def front(request, client) -> Front:
    return Front(request.param, client)


@pytest.fixture
def deployment(org_a, tiny_model, adapters):
    job = succeeded_job(org_a, tiny_model, adapters["a"], "qa-plain")
    return services.publish(org_a, job=job, engine="builtin")


def key(org) -> str:
    return ApiKey.issue(org, name="gateway test")[1]


def chat(front: Front, api_key: str | None, body) -> tuple[int, dict]:
    response = front.post("/v1/chat/completions", body, api_key)
    payload = response.json()
    assert set(payload) == {"error"} and set(payload["error"]) == OPENAI_ERROR_KEYS, payload
    assert response["Content-Type"] == "application/json"
    return response.status_code, payload["error"]


def ask(model: str) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "Hi"}]}


def test_keys_are_required_and_checked(front, deployment):
    status, error = chat(front, None, ask("qa-plain"))
    assert status == 401 and error["code"] == "invalid_api_key"
    status, error = chat(front, "tf_abc_not-a-real-key", ask("qa-plain"))
    assert status == 401 and "Incorrect" in error["message"]
    revoked = ApiKey.issue(deployment.organization)
    revoked[0].revoke()
    assert chat(front, revoked[1], ask("qa-plain"))[0] == 401


def test_another_organizations_model_is_not_found(front, deployment, org_b):
    outsider = key(org_b)
    status, theirs = chat(front, outsider, ask("qa-plain"))
    _, nobodys = chat(front, outsider, ask("no-such-model"))
    assert status == 404
    assert theirs == {**nobodys, "message": nobodys["message"].replace("no-such-model", "qa-plain")}
    assert theirs["code"] == "model_not_found" and theirs["param"] == "model"
    listing = front.get("/v1/models", outsider)
    assert listing.json() == {"object": "list", "data": []}
    detail = front.get("/v1/models/qa-plain", outsider)
    assert detail.status_code == 404 and detail.json()["error"]["code"] == "model_not_found"


def test_keys_without_inference_and_viewer_keys_may_not_call_models(front, deployment, org_a, org_b):
    def scoped_key(org, **issue) -> str:
        return ApiKey.issue(org, name="scoped", **issue)[1]

    read_only = scoped_key(org_a, scopes=["read", "write"])
    viewer = scoped_key(org_a, role="viewer")
    for refused in (read_only, viewer):
        for model in ("qa-plain", "no-such-model"):  # refused before the name is looked up
            status, error = chat(front, refused, ask(model))
            assert status == 403 and error["code"] == "permission_denied", error
            assert "'inference' scope" in error["message"]
        response = front.post("/v1/completions", {"model": "qa-plain", "prompt": "x"}, refused)
        assert response.status_code == 403 and set(response.json()["error"]) == OPENAI_ERROR_KEYS
        assert [m["id"] for m in front.get("/v1/models", refused).json()["data"]] == ["qa-plain"]  # reading

    inference_only = scoped_key(org_a, scopes=["inference"])
    status, error = chat(front, inference_only, ask("qa-plain"))
    assert status == 503 and error["code"] == "model_not_ready"  # past the key: only the engine is missing
    assert front.get("/v1/models/qa-plain", inference_only).status_code == 200
    write_only = scoped_key(org_a, scopes=["write"])
    assert front.get("/v1/models", write_only).status_code == 403
    # The outsider still gets 404 with a full key, as if the model did not exist.
    assert chat(front, scoped_key(org_b), ask("qa-plain"))[0] == 404


def test_viewers_may_not_use_the_playground(client, deployment, vera, bob, charlie):
    url = f"/deployments/{deployment.pk}/playground/"
    body = json.dumps({"messages": [{"role": "user", "content": "Hi"}]})
    client.force_login(vera)
    assert client.get(url).status_code == 403
    assert "Open the playground" not in client.get(f"/deployments/{deployment.pk}/").content.decode()
    response = client.post(url + "chat/", body, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert set(response.json()["error"]) == OPENAI_ERROR_KEYS
    client.force_login(bob)  # a member gets past the role: the deployment is still starting
    assert client.get(url).status_code == 200
    assert client.post(url + "chat/", body, content_type="application/json").status_code == 503
    client.force_login(charlie)
    assert client.post(url + "chat/", body, content_type="application/json").status_code == 404


def test_models_of_the_caller_are_listed(front, deployment, org_a):
    mine = key(org_a)
    listing = front.get("/v1/models", mine).json()
    assert [(m["id"], m["owned_by"], m["status"]) for m in listing["data"]] == [
        ("qa-plain", "acme", "starting")
    ]
    detail = front.get("/v1/models/qa-plain", mine).json()
    assert detail["id"] == "qa-plain" and detail["object"] == "model"


def test_bad_requests_say_what_to_fix(front, deployment, org_a):
    mine = key(org_a)
    status, error = chat(front, mine, "{not json")
    assert status == 400 and error["code"] == "invalid_json"
    status, error = chat(front, mine, [1, 2])
    assert status == 400 and "JSON object" in error["message"]
    status, error = chat(front, mine, {"messages": []})
    assert status == 400 and error["param"] == "model"
    response = front.get("/v1/chat/completions", mine)
    assert response.status_code == 405 and response["Allow"] == "POST"
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        status, error = chat(front, mine, {**ask("qa-plain"), "padding": "x" * 2000})
    assert status == 413 and error["code"] == "request_too_large"


def test_a_model_that_is_not_ready_answers_503_with_a_reason(front, deployment, org_a):
    mine = key(org_a)
    status, error = chat(front, mine, ask("qa-plain"))
    assert status == 503 and error["code"] == "model_not_ready"
    response = front.post("/v1/completions", {"model": "qa-plain", "prompt": "x"}, mine)
    assert response.status_code == 503 and response["Retry-After"] == "5"
    services.mark_failed(deployment.pk, "The engine could not load the adapter: bad file")
    status, error = chat(front, mine, ask("qa-plain"))
    assert status == 503 and error["code"] == "model_failed" and "bad file" in error["message"]


def test_an_engine_that_went_away_answers_503(front, deployment, org_a):
    # Ready on paper, but nothing listens on its port: the gateway says so instead of failing.
    Engine.objects.filter(pk=deployment.engine_id).update(
        status=EngineStatus.READY, base_url=f"http://127.0.0.1:{free_port()}", api_key="k"
    )
    services.mark_ready(deployment.pk)
    status, error = chat(front, key(org_a), ask("qa-plain"))
    assert status == 503 and error["code"] == "engine_unavailable"


def test_unknown_endpoints_answer_in_openais_shape(front, org_a):
    response = front.post("/v1/embeddings", {"model": "x", "input": "hi"}, key(org_a))
    assert response.status_code == 404
    assert (
        response.json()["error"]["code"] == "unknown_url"
        and "/v1/embeddings" in response.json()["error"]["message"]
    )
    assert front.post("/v1/models", {}, key(org_a)).status_code == 405


def test_v1_skips_djangos_request_cycle_and_the_rest_does_not():
    # Django's middleware (here: the clickjacking header) answers for pages, never for the gateway.
    gateway = async_to_sync(call_asgi)(application, "GET", "/v1/models")
    assert gateway.status_code == 401 and "x-frame-options" not in gateway.headers
    assert gateway["X-Content-Type-Options"] == "nosniff"
    page = async_to_sync(call_asgi)(application, "GET", "/login/")
    assert page.status_code == 200 and page["X-Frame-Options"] == "DENY"


def test_the_lean_gateway_checks_the_host_header(settings):
    settings.ALLOWED_HOSTS = ["tuneforge.example"]
    scope_app = application

    async def with_host(host: str) -> Reply:
        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        answer = {}

        async def send(message):
            answer.setdefault("status", message.get("status"))
            if message["type"] == "http.response.body":
                answer["body"] = message["body"]

        scope = {"type": "http", "method": "GET", "path": "/v1/models", "headers": [(b"host", host.encode())]}
        await scope_app(scope, receive, send)
        return Reply(answer["status"], {}, answer["body"])

    bad = async_to_sync(with_host)("evil.example")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_host"
    assert async_to_sync(with_host)("tuneforge.example:8000").status_code == 401  # on to the key check


def test_a_declared_oversized_body_is_refused_before_it_is_read(settings, org_a):
    from serving_app.gateway.asgi import GatewayApplication, TooLarge

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    async def never():
        raise AssertionError("the body must not be read")

    with pytest.raises(TooLarge):
        async_to_sync(GatewayApplication.read_body)(never, "5000")

    async def trickle():  # no Content-Length, more than the limit in pieces
        return {"type": "http.request", "body": b"x" * 60, "more_body": True}

    with pytest.raises(TooLarge):
        async_to_sync(GatewayApplication.read_body)(trickle, None)


def test_a_failure_inside_the_gateway_still_answers_in_openais_shape(monkeypatch):
    from serving_app.gateway import handlers

    async def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(handlers, "handle", broken)
    response = async_to_sync(call_asgi)(application, "GET", "/v1/models")
    assert response.status_code == 500 and response.json()["error"]["type"] == "server_error"


def test_a_stream_stops_and_closes_when_the_caller_leaves():
    from serving_app.gateway.answer import stream_answer
    from serving_app.gateway.asgi import GatewayApplication

    produced, closed, sent = [], [], []

    async def engine_stream():
        try:
            for index in range(1000):
                produced.append(index)
                yield f"data: {index}\n\n".encode()
                await asyncio.sleep(0.01)
        finally:
            closed.append(True)  # the engine's response is closed here in the real relay

    calls = 0

    async def receive():
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)  # the caller reads a few chunks, then hangs up
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    async_to_sync(GatewayApplication.relay)(stream_answer(engine_stream()), receive, send)
    assert closed == [True] and 0 < len(produced) < 1000
    assert all(m.get("more_body") for m in sent)  # never told the caller it was complete


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="SQLite has no connection to lose")
@pytest.mark.django_db(transaction=True)  # outside a transaction, as the gateway's lookups are
def test_a_database_connection_cut_by_the_server_is_replaced(org_a):
    from serving_app.gateway.asgi import db
    from tests.db_outage import database_held

    tries, backends = [], []

    def lookup(value):
        tries.append(value)
        answer = value * Organization.objects.count()
        backends.append(connection.connection.info.backend_pid)
        return answer

    assert async_to_sync(db(lookup))(21) == 21  # the lookup's connection is open
    with database_held([Organization._meta.db_table], mode="ROW SHARE") as outage:
        outage.conn.execute("SELECT pg_terminate_backend(%s)", [backends[0]])
    assert async_to_sync(db(lookup))(21) == 21
    assert len(tries) == 3 and backends[1] != backends[0]  # refused on the cut connection, then a fresh one


def test_the_one_statement_lookup_agrees_with_the_orm(deployment, org_a, org_b):
    from serving_app.gateway import routing
    from serving_app.models import Deployment

    Engine.objects.filter(pk=deployment.engine_id).update(
        status=EngineStatus.READY, base_url="http://127.0.0.1:1", api_key="k"
    )
    services.mark_ready(deployment.pk)
    api_key, raw = ApiKey.issue(org_a, name="hot path")
    target = routing.authenticate_and_resolve(f"Bearer {raw}", "qa-plain")
    assert target == routing.target_of(Deployment.objects.select_related("engine", "base_model").get())
    assert target.org_id == org_a.pk and target.engine_model != "qa-plain"  # the engine's name stays inside
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None
    with pytest.raises(routing.GatewayError) as outsider:
        routing.authenticate_and_resolve(f"Bearer {key(org_b)}", "qa-plain")
    assert outsider.value.status == 404
    wrong_secret = raw[: raw.rindex("_") + 1] + "x" * 43  # the right prefix, not the right key
    with pytest.raises(routing.GatewayError) as forged:
        routing.authenticate_and_resolve(f"Bearer {wrong_secret}", "qa-plain")
    assert forged.value.status == 401
    viewer = ApiKey.issue(org_a, role="viewer")[1]
    with pytest.raises(routing.GatewayError) as read_only:  # the role and scopes come in the same row
        routing.authenticate_and_resolve(f"Bearer {viewer}", "qa-plain")
    assert read_only.value.status == 403


def test_the_lean_gateway_sends_hsts_over_https_as_django_would(settings):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    behind_tls = async_to_sync(call_asgi)(
        application, "GET", "/v1/models", headers={"X-Forwarded-Proto": "https"}
    )
    assert behind_tls["Strict-Transport-Security"] == "max-age=3600; includeSubDomains"
    plain = async_to_sync(call_asgi)(application, "GET", "/v1/models")
    assert "strict-transport-security" not in plain.headers
    page = Client().get("/login/", headers={"X-Forwarded-Proto": "https"})
    assert page["Strict-Transport-Security"] == behind_tls["Strict-Transport-Security"]


def test_a_stream_is_relayed_chunk_by_chunk_not_buffered():
    from serving_app.gateway.answer import stream_answer
    from serving_app.gateway.asgi import GatewayApplication

    first_sent = asyncio.Event()
    sent = []

    async def engine_stream():
        yield b"data: 1\n\n"
        # The engine produces its second chunk only once the caller has the first one: a relay that
        # buffered would wait here forever.
        await asyncio.wait_for(first_sent.wait(), timeout=10)
        yield b"data: [DONE]\n\n"

    async def receive():
        await asyncio.Event().wait()  # the caller stays

    async def send(message):
        sent.append(message)
        if message.get("body") == b"data: 1\n\n":
            first_sent.set()

    async_to_sync(GatewayApplication.relay)(stream_answer(engine_stream()), receive, send)
    assert [m["body"] for m in sent] == [b"data: 1\n\n", b"data: [DONE]\n\n", b""]
    assert sent[-1].get("more_body", False) is False


def ask_an_engine_stub(deployment, org, handler):
    """The deployment's engine replaced by a raw socket server running ``handler``; one chat call through
    the lean gateway."""

    async def ask_through_the_gateway():
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        await sync_to_async(Engine.objects.filter(pk=deployment.engine_id).update)(
            status=EngineStatus.READY, base_url=f"http://127.0.0.1:{port}", api_key="k"
        )
        await sync_to_async(services.mark_ready)(deployment.pk)
        raw = json.dumps(ask("qa-plain")).encode()
        headers = {
            "Authorization": f"Bearer {await sync_to_async(key)(org)}",
            "Content-Type": "application/json",
        }
        try:
            return await call_asgi(application, "POST", "/v1/chat/completions", raw, headers)
        finally:
            server.close()

    return async_to_sync(ask_through_the_gateway)()


def test_an_engine_answering_garbage_is_a_502_not_a_crash(deployment, org_a):
    async def garbage(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        body = b"<html>not json</html>"
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: %d\r\n\r\n" % len(body) + body
        )
        await writer.drain()
        writer.close()

    reply = ask_an_engine_stub(deployment, org_a, garbage)
    error = reply.json()["error"]
    assert reply.status_code == 502 and error["type"] == "server_error" and "not JSON" in error["message"]


# What vLLM 0.32 answers once its EngineCore process was killed (the OOM killer picks that one), until the
# API server notices and exits: tried by hand with `kill -9` on the EngineCore of a running server.
ENGINE_DEAD = b'{"error":{"message":"EngineCore encountered an issue. See stack trace (above) for the root cause.","type":"InternalServerError","param":null,"code":500}}'


@pytest.mark.parametrize(("health", "expected"), [(503, 503), (200, 500)])
def test_an_engine_failing_with_its_health_check_is_a_503_to_retry(deployment, org_a, health, expected):
    async def dying_engine(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        await reader.readexactly(length)
        status, body = (health, b"") if head.startswith(b"GET /health") else (500, ENGINE_DEAD)
        writer.write(
            b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
            % (status, len(body))
            + body
        )
        await writer.drain()
        writer.close()

    reply = ask_an_engine_stub(deployment, org_a, dying_engine)
    error = reply.json()["error"]
    assert reply.status_code == expected and error["type"] == "server_error", error
    if expected == 503:  # dying: come back later
        assert error["code"] == "engine_unavailable" and reply["Retry-After"] == "5"
    else:  # alive: this request failed, and the caller is told the engine's reason
        assert error["message"].startswith("EngineCore encountered an issue")
