"""Publishing rules, the job state that follows deployments, tenancy of the API, Bisheng and the portal.

No engine runs here: these check what the services decide and what every caller is allowed to see.
"""

from __future__ import annotations

import shutil

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.test import override_settings

from llm_platform.errors import Conflict, DomainError
from serving_app import services
from serving_app.models import Deployment, DeploymentSource, DeploymentStatus, Engine
from serving_app.services.publish import checkpoint_dir
from tests.contract import assert_tenant_contract
from tests.serving.conftest import succeeded_job
from training_app.events import record_event
from training_app.models import JobStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(org_a, tiny_model, adapters):
    return succeeded_job(org_a, tiny_model, adapters["a"], "qa-plain")


def publish(org, **kwargs):
    kwargs.setdefault("engine", "builtin")
    return services.publish(org, **kwargs)


def test_adapters_and_the_base_share_one_engine_per_base_model(org_a, org_b, tiny_model, adapters, job):
    other = succeeded_job(org_b, tiny_model, adapters["b"], "qa-plain")
    mine = publish(org_a, job=job)
    theirs = publish(org_b, job=other)  # the same name in another organization is fine
    base = publish(org_a, base_model=tiny_model, name="tiny")
    assert mine.engine_id == theirs.engine_id == base.engine_id
    assert Engine.objects.count() == 1
    assert mine.is_adapter and mine.status == DeploymentStatus.STARTING
    assert base.engine_name == base.engine.model_name and not base.is_adapter
    # Namespaced at the engine: two organizations' "qa-plain" never meet there.
    assert mine.engine_name != theirs.engine_name
    assert mine.engine_name.startswith(f"org{org_a.pk}/") and theirs.engine_name.startswith(f"org{org_b.pk}/")


def test_a_full_fine_tune_gets_an_engine_of_its_own(org_a, tiny_model, adapters, job):
    full = succeeded_job(org_a, tiny_model, adapters["a"], "full-run", method="full")
    adapter = publish(org_a, job=job)
    own = publish(org_a, job=full)
    assert own.engine_id != adapter.engine_id
    assert own.engine.base_model is None and not own.engine.enable_lora
    assert own.engine_name == own.engine.model_name


def test_only_a_succeeded_job_is_published_and_only_once(org_a, job):
    for status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED):
        job.status = status
        job.save(update_fields=["status"])
        with pytest.raises(Conflict, match=f"is {status}"):
            publish(org_a, job=job)
    job.status = JobStatus.SUCCEEDED
    job.save(update_fields=["status"])
    publish(org_a, job=job)
    with pytest.raises(Conflict, match="already published as qa-plain"):
        publish(org_a, job=job, name="again")


def test_names_are_checked_and_unique_per_organization(org_a, tiny_model, job):
    publish(org_a, base_model=tiny_model, name="taken")
    with pytest.raises(DomainError) as taken:
        publish(org_a, job=job, name="taken")
    assert "already exists" in taken.value.fields["name"]
    with pytest.raises(DomainError) as bad:
        publish(org_a, job=job, name="no spaces please")
    assert "letters, digits" in bad.value.fields["name"]
    assert Deployment.objects.count() == 1


def test_engine_limits_are_explained(org_a, job):
    job.hyperparameters = {"lora_rank": 64}
    job.save(update_fields=["hyperparameters"])
    with override_settings(VLLM_PYTHON=shutil.which("python3")):
        with pytest.raises(DomainError) as rank:
            publish(org_a, job=job, engine="vllm")
        assert (
            "rank 64" in rank.value.fields["engine"]
            and "SERVING_MAX_LORA_RANK" in rank.value.fields["engine"]
        )
        job.hyperparameters = {"lora_rank": 8, "use_dora": True}
        job.save(update_fields=["hyperparameters"])
        with pytest.raises(DomainError) as dora:
            publish(org_a, job=job, engine="vllm")
        assert "DoRA" in dora.value.fields["engine"]
    with override_settings(VLLM_PYTHON=""), pytest.raises(DomainError) as missing:
        publish(org_a, job=job, engine="vllm")
    assert "make vllm" in missing.value.message
    with pytest.raises(DomainError) as device:
        publish(org_a, job=job, device="cpu;reboot")
    assert device.value.fields["device"] == "use 'cpu' or a GPU index such as '0'"
    assert not Deployment.objects.exists()


def test_a_checkpoint_is_published_from_the_workers_disk(org_a, job, adapters):
    with pytest.raises(DomainError) as unknown:
        publish(org_a, job=job, checkpoint_step=30)
    assert "no checkpoint at step 30" in unknown.value.fields["checkpoint_step"]
    record_event(job.pk, "checkpoint", {"step": 30})
    with pytest.raises(DomainError) as absent:
        publish(org_a, job=job, checkpoint_step=30)
    assert "not on this machine's disk" in absent.value.fields["checkpoint_step"]

    shutil.copytree(adapters["a"] / "checkpoint-30", checkpoint_dir(job, 30))
    deployment = publish(org_a, job=job, checkpoint_step=30)
    assert deployment.source == DeploymentSource.CHECKPOINT and deployment.name == "qa-plain-step30"
    stored = {f["path"] for f in deployment.artifacts["files"]}
    assert {"adapter_model.safetensors", "adapter_config.json"} <= stored
    assert not any(p.startswith(("optimizer", "scheduler", "rng_state")) for p in stored)
    names = [f["name"] for f in deployment.artifacts["files"]]
    assert all(default_storage.exists(n) for n in names)
    # A checkpoint deployment does not publish the job; unpublishing it removes its stored copy.
    services.mark_ready(deployment.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    services.unpublish(deployment)
    assert not any(default_storage.exists(n) for n in names)


def test_the_job_is_published_while_its_deployment_is_ready(org_a, job):
    deployment = publish(org_a, job=job)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, "not before the engine has it"
    services.mark_ready(deployment.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.PUBLISHED
    services.mark_failed(deployment.pk, "The engine exited.")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    services.mark_ready(deployment.pk)
    services.unpublish(deployment)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert not Deployment.objects.exists()
    statuses = [e.payload["to"] for e in job.events.filter(type="status").order_by("seq")]
    assert statuses == ["published", "succeeded", "published", "succeeded"]


def test_api_publish_list_and_unpublish(alice_api, org_a, job, tiny_model):
    response = alice_api.post("/api/deployments/", {"job": str(job.uid), "engine": "builtin"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["model"] == "qa-plain" and body["engine"] == "builtin" and body["status"] == "starting"
    assert body["endpoint"] == f"{settings.SITE_URL}/v1"
    assert "engine_name" not in body and "org" not in str(body.get("model"))
    response = alice_api.post("/api/deployments/", {"job": job.pk, "engine": "builtin"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    response = alice_api.post("/api/deployments/", {"base_model": "tiny-llama", "name": "x y"}, format="json")
    assert response.status_code == 400 and "name" in response.json()["error"]["fields"]
    response = alice_api.post("/api/deployments/", {}, format="json")
    assert response.status_code == 400 and "job" in response.json()["error"]["fields"]
    assert [d["name"] for d in alice_api.get("/api/deployments/").json()["results"]] == ["qa-plain"]
    assert alice_api.get(f"/api/deployments/{body['id']}/usage/").json() == []
    assert alice_api.delete(f"/api/deployments/{body['id']}/").status_code == 204
    assert not Deployment.objects.exists()
    paths = alice_api.get("/api/schema/?format=json").json()["paths"]
    assert {"/api/deployments/", "/api/deployments/{id}/", "/api/deployments/{id}/usage/"} <= set(paths)


def test_tenancy_contract_of_every_deployment_endpoint(
    anon_api, charlie_api, vera_api, org_a, job, client, charlie
):
    deployment = publish(org_a, job=job)
    count = Deployment.objects.count
    assert charlie_api.get("/api/deployments/").json()["results"] == []
    for url in (f"/api/deployments/{deployment.pk}/", f"/api/deployments/{deployment.pk}/usage/"):
        assert_tenant_contract(url, anon=anon_api, outsider=charlie_api)
    assert_tenant_contract(
        f"/api/deployments/{deployment.pk}/",
        method="delete",
        anon=anon_api,
        outsider=charlie_api,
        viewer=vera_api,
        unchanged=count,
    )
    # Publishing another organization's job: it does not exist, as far as the caller can tell.
    response = charlie_api.post("/api/deployments/", {"job": job.pk, "engine": "builtin"}, format="json")
    assert response.status_code == 404
    assert vera_api.post("/api/deployments/", {"job": job.pk}, format="json").status_code == 403
    for action in ("publish", "publish/cancel"):
        assert_tenant_contract(
            f"/api/v1/finetune/job/{action}?job_id={job.uid.hex}",
            method="post",
            anon=anon_api,
            outsider=charlie_api,
            viewer=vera_api,
            unchanged=count,
        )
    pages = ["", "status/", "playground/"]
    for page in pages:
        assert "/login/" in client.get(f"/deployments/{deployment.pk}/{page}")["Location"]
    client.force_login(charlie)
    for page in pages:
        assert client.get(f"/deployments/{deployment.pk}/{page}").status_code == 404
    assert client.post(f"/deployments/{deployment.pk}/unpublish/").status_code == 404
    chat = client.post(
        f"/deployments/{deployment.pk}/playground/chat/", "{}", content_type="application/json"
    )
    assert chat.status_code == 404
    assert count() == 1


def test_bisheng_publish_and_cancel(alice_api, org_a, job):
    response = alice_api.post(f"/api/v1/finetune/job/publish?job_id={job.uid.hex}")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data == {
        "job_id": job.uid.hex,
        "model": "qa-plain",
        "endpoint": f"{settings.SITE_URL}/v1",
        "status": 4,
        "deployment_status": "starting",
    }
    again = alice_api.post(f"/api/v1/finetune/job/publish?job_id={job.pk}").json()["data"]
    assert again["model"] == "qa-plain" and Deployment.objects.count() == 1
    services.mark_ready(Deployment.objects.get().pk)
    assert (
        alice_api.get(f"/api/v1/finetune/job/info?job_id={job.pk}").json()["data"]["finetune"]["status"] == 5
    )
    cancelled = alice_api.post(f"/api/v1/finetune/job/publish/cancel?job_id={job.pk}").json()
    assert cancelled["status_code"] == 200 and cancelled["data"]["status"] == 4
    again = alice_api.post(f"/api/v1/finetune/job/publish/cancel?job_id={job.pk}")
    assert again.status_code == 409 and again.json()["status_message"] == "qa-plain is not published."
    missing = alice_api.post("/api/v1/finetune/job/publish")
    assert missing.status_code == 400 and missing.json()["status_message"] == "job_id is required."


def test_portal_publish_form_detail_and_unpublish(client, alice, org_a, job, tiny_model):
    client.force_login(alice)
    page = client.get(f"/deployments/new/?job={job.pk}")
    assert page.status_code == 200 and b"qa-plain" in page.content
    bad = client.post("/deployments/new/", {"source": "job", "engine": "builtin", "name": "x"})
    assert bad.status_code == 200 and b"Choose the job to publish." in bad.content
    done = client.post("/deployments/new/", {"source": "job", "job": job.pk, "engine": "builtin"})
    deployment = Deployment.objects.get()
    assert done.status_code == 302 and done["Location"] == f"/deployments/{deployment.pk}/"
    detail = client.get(done["Location"])
    assert b"qa-plain" in detail.content and f"{settings.SITE_URL}/v1".encode() in detail.content
    assert b"engine.key" not in detail.content and deployment.engine.key.encode() not in detail.content
    listing = client.get("/deployments/")
    assert b"qa-plain" in listing.content
    taken = client.post(
        "/deployments/new/",
        {"source": "base", "base_model": tiny_model.pk, "engine": "builtin", "name": "qa-plain"},
    )
    assert b"already exists in this organization" in taken.content
    assert client.post(f"/deployments/{deployment.pk}/unpublish/").status_code == 302
    assert not Deployment.objects.exists()


def test_viewers_read_but_cannot_publish(client, vera, org_a, job):
    client.force_login(vera)
    assert client.get("/deployments/").status_code == 200
    response = client.post("/deployments/new/", {"source": "job", "job": job.pk, "engine": "builtin"})
    assert response.status_code == 403
    assert not Deployment.objects.exists()
