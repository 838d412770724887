"""The OpenAI fine-tuning API's refusals, as the official ``openai`` client sees them: each in the client's
error class, naming the field. The client talks to the platform's WSGI application in process (httpx's
WSGI transport): the same Django views as under daphne, without a server to start."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from django.core.wsgi import get_wsgi_application
from openai import OpenAI

from llm_platform.models import ApiKey, Role
from tests.training.conftest import QA
from training_app.models import JobStatus, TrainingJob

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = "".join(
    json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}) + "\n"
    for q, a in QA
).encode()


def client_for(org, role=Role.MEMBER, **scopes) -> OpenAI:
    _, key = ApiKey.issue(org, name="client", role=role, **scopes)
    transport = httpx.WSGITransport(app=get_wsgi_application())
    http = httpx.Client(transport=transport, base_url="http://testserver")
    return OpenAI(base_url="http://testserver/v1", api_key=key, http_client=http, max_retries=0)


def test_refusals_in_the_clients_error_classes(org_a, org_b, tiny_model):
    client = client_for(org_a)
    upload = client.files.create(file=("qa.jsonl", ROWS), purpose="fine-tune")
    assert upload.status == "processed"

    with pytest.raises(openai.AuthenticationError):
        OpenAI(
            base_url="http://testserver/v1", api_key="tf_wrong", http_client=client._client, max_retries=0
        ).files.list()
    with pytest.raises(openai.PermissionDeniedError):  # a read-only key lists but cannot upload
        reader = client_for(org_a, Role.VIEWER)
        assert [f.id for f in reader.files.list().data] == [upload.id]
        reader.files.create(file=("qa.jsonl", ROWS), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as purpose:
        client.files.create(file=("qa.jsonl", ROWS), purpose="assistants")
    assert purpose.value.body["param"] == "purpose"

    outsider = client_for(org_b)
    with pytest.raises(openai.NotFoundError):
        outsider.files.retrieve(upload.id)
    with pytest.raises(openai.NotFoundError):
        outsider.files.content(upload.id)
    assert outsider.files.list().data == []

    cases = [
        ({"training_file": "file-nope"}, "training_file"),
        ({"training_file": upload.id, "hyperparameters": {"n_epochs": 0}}, "hyperparameters.n_epochs"),
        ({"training_file": upload.id, "hyperparameters": {"epochs": 2}}, "hyperparameters.epochs"),
        ({"training_file": upload.id, "suffix": "no spaces"}, "suffix"),
        ({"training_file": upload.id, "seed": 2**40}, "seed"),
        ({"training_file": upload.id, "validation_file": upload.id}, "validation_file"),
        ({"training_file": upload.id, "method": {"type": "dpo"}}, "training_file"),  # chat rows, not pairs
    ]
    for fields, param in cases:
        with pytest.raises(openai.BadRequestError) as refused:
            client.fine_tuning.jobs.create(model="tiny-llama", **fields)
        assert refused.value.body["param"] == param, refused.value.body
    assert not TrainingJob.objects.exists(), "a refused request left a job behind"

    job = client.fine_tuning.jobs.create(
        model="tiny-llama", training_file=upload.id, metadata={"a__contains": "x", "team": "search"}
    )
    assert [j.id for j in client.fine_tuning.jobs.list(metadata={"a__contains": "x"}).data] == [job.id]
    assert client.fine_tuning.jobs.list(metadata={"team": "other"}).data == []
    with pytest.raises(openai.ConflictError):
        client.fine_tuning.jobs.resume(job.id)  # not paused
    with pytest.raises(openai.NotFoundError):
        outsider.fine_tuning.jobs.cancel(job.id)
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    with pytest.raises(openai.ConflictError):
        client.fine_tuning.jobs.cancel(job.id)
    with pytest.raises(openai.ConflictError):
        client.fine_tuning.jobs.pause(job.id)  # a cancelled job does not pause


def test_fine_tuned_model_names_with_slashes_and_colons(org_a, tiny_model):
    """``ft:`` names carry the base model's name (``/`` in a hub id) and colons: raw and percent-encoded."""
    tiny_model.name = "acme/tiny-llama"
    tiny_model.save()
    job = TrainingJob.objects.create(
        organization=org_a,
        name="done",
        base_model=tiny_model,
        status=JobStatus.SUCCEEDED,
        api_options={"suffix": "qa", "hyperparameters": {}},
    )
    client = client_for(org_a)
    name = client.fine_tuning.jobs.retrieve(f"ftjob-{job.uid.hex}").fine_tuned_model
    assert name == f"ft:acme/tiny-llama:{org_a.slug}:qa:{job.uid.hex[:8]}"
    assert name in {m.id for m in client.models.list().data}
    http = client._client
    for path in (f"/v1/models/{name}", "/v1/models/" + name.replace(":", "%3A").replace("/", "%2F")):
        answer = http.get(path, headers={"Authorization": f"Bearer {client.api_key}"})
        assert answer.status_code == 200 and answer.json()["id"] == name, path
    with pytest.raises(openai.NotFoundError):
        client_for(org_a).models.retrieve(name + "x")
