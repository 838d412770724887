import pytest

from tests.contract import assert_tenant_contract
from tests.training.conftest import make_dataset
from training_app import services
from training_app.models import JobEvent, JobStatus, TrainingJob
from training_app.states import ALLOWED_FROM, transition

pytestmark = pytest.mark.django_db


def job_body(tiny_model, dataset, **overrides):
    body = {
        "name": "first-run",
        "base_model": tiny_model.name,
        "method": "lora",
        "datasets": [{"dataset": str(dataset.pk)}],
        "hyperparameters": {"num_train_epochs": 1, "learning_rate": 1e-3},
        "devices": "cpu",
    }
    body.update(overrides)
    return body


def new_job(org, user, tiny_model, dataset, name="job-1", **kwargs):
    return services.create_job(
        org,
        user,
        name=name,
        base_model=tiny_model,
        datasets=[services.DatasetChoice(dataset)],
        **kwargs,
    )


def test_create_job_records_queued_status_event(alice_api, tiny_model, qa_dataset):
    response = alice_api.post("/api/jobs/", job_body(tiny_model, qa_dataset), format="json")
    assert response.status_code == 201, response.json()
    job = TrainingJob.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.QUEUED
    assert job.job_datasets.get().dataset_sha256 == qa_dataset.sha256
    event = JobEvent.objects.get(job=job)
    assert (event.seq, event.type, event.payload["to"]) == (1, "status", "queued")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("learning_rate", 0),
        ("learning_rate", 1.5),
        ("num_train_epochs", 0),
        ("per_device_train_batch_size", 0),
        ("val_ratio", 1),
        ("lora_dropout", 1.0),
        ("max_grad_norm", 0),
        ("save_strategy", "sometimes"),
        ("lr_scheduler_type", "zigzag"),
        ("pref_beta", 0),
    ],
)
def test_out_of_range_hyperparameter_is_400_naming_the_field(alice_api, tiny_model, qa_dataset, field, value):
    body = job_body(tiny_model, qa_dataset, hyperparameters={field: value})
    response = alice_api.post("/api/jobs/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()
    assert not TrainingJob.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "has spaces"}, "name"),
        ({"name": "x" * 51}, "name"),
        ({"devices": "gpu please"}, "devices"),
        ({"stage": "dpo"}, "datasets[0]"),
        ({"base_model": "no-such-model"}, "base_model"),
    ],
)
def test_bad_job_requests_name_the_field(alice_api, tiny_model, qa_dataset, overrides, field):
    response = alice_api.post("/api/jobs/", job_body(tiny_model, qa_dataset, **overrides), format="json")
    assert response.status_code == 400
    body = response.json()["error"]
    assert field in body.get("fields", {}), body


def test_qlora_without_cuda_is_refused_at_creation(alice_api, tiny_model, qa_dataset):
    body = job_body(
        tiny_model, qa_dataset, method="qlora", hyperparameters={"quantization_bit": 4}, devices="auto"
    )
    response = alice_api.post("/api/jobs/", body, format="json")
    assert response.status_code == 400
    assert "QLoRA needs a CUDA GPU" in response.json()["error"]["fields"]["method"]


def test_duplicate_name_in_org_refused_but_allowed_in_another(
    org_a, org_b, alice, charlie, tiny_model, qa_dataset
):
    new_job(org_a, alice, tiny_model, qa_dataset, name="same")
    with pytest.raises(Exception, match="already exists"):
        new_job(org_a, alice, tiny_model, qa_dataset, name="same")
    other = make_dataset(
        org_b, [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}]
    )
    assert new_job(org_b, charlie, tiny_model, other, name="same").organization == org_b


def test_dataset_of_another_org_cannot_be_used(alice_api, charlie, org_b, tiny_model):
    theirs = make_dataset(
        org_b, [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}]
    )
    response = alice_api.post("/api/jobs/", job_body(tiny_model, theirs), format="json")
    assert response.status_code == 400
    assert not TrainingJob.objects.exists()


def test_every_illegal_transition_is_a_409(alice_api, org_a, alice, tiny_model, qa_dataset):
    job = new_job(org_a, alice, tiny_model, qa_dataset)
    everything = [s.value for s in JobStatus]
    for current in everything:
        TrainingJob.objects.filter(pk=job.pk).update(status=current)
        for target in everything:
            if current in ALLOWED_FROM[target]:
                continue
            with pytest.raises(Exception) as info:
                transition(job.pk, target)
            assert getattr(info.value, "status", None) == 409, (current, target)
    # and through the API: retry a queued job, cancel a succeeded one, delete a running one
    TrainingJob.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED)
    assert alice_api.post(f"/api/jobs/{job.pk}/retry/").status_code == 409
    TrainingJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    response = alice_api.post(f"/api/jobs/{job.pk}/cancel/")
    assert response.status_code == 409
    assert response.json()["error"]["message"] == "Cannot cancel a job that is succeeded."
    TrainingJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    assert alice_api.delete(f"/api/jobs/{job.pk}/").status_code == 409
    assert TrainingJob.objects.filter(pk=job.pk).exists()


def test_cancel_retry_rename_clone_and_delete(alice_api, org_a, alice, tiny_model, qa_dataset):
    job = new_job(org_a, alice, tiny_model, qa_dataset)
    assert alice_api.post(f"/api/jobs/{job.pk}/cancel/").json()["status"] == "cancelled"
    assert alice_api.post(f"/api/jobs/{job.pk}/retry/").json()["status"] == "queued"
    assert alice_api.post(f"/api/jobs/{job.pk}/rename/", {"name": "renamed"}, format="json").json()[
        "name"
    ] == ("renamed")
    assert (
        alice_api.post(f"/api/jobs/{job.pk}/rename/", {"name": "bad name"}, format="json").status_code == 400
    )
    clone = alice_api.post(f"/api/jobs/{job.pk}/clone/", {"name": "copy"}, format="json")
    assert clone.status_code == 201
    assert clone.json()["datasets"][0]["dataset"] == qa_dataset.pk
    alice_api.post(f"/api/jobs/{job.pk}/cancel/")
    assert alice_api.delete(f"/api/jobs/{job.pk}/").status_code == 204
    statuses = [e.payload["to"] for e in JobEvent.objects.filter(job_id=clone.json()["id"], type="status")]
    assert statuses == ["queued"]


def test_job_endpoints_honour_tenancy(org_a, alice, tiny_model, qa_dataset, anon_api, charlie_api, vera_api):
    job = new_job(org_a, alice, tiny_model, qa_dataset)

    def state():
        return list(TrainingJob.objects.values_list("pk", "status", "name"))

    for suffix in ["", "events/", "log/"]:
        assert_tenant_contract(f"/api/jobs/{job.pk}/{suffix}", anon=anon_api, outsider=charlie_api)
    for suffix, data in [
        ("cancel/", None),
        ("retry/", None),
        ("rename/", {"name": "x"}),
        ("clone/", {"name": "y"}),
    ]:
        assert_tenant_contract(
            f"/api/jobs/{job.pk}/{suffix}",
            method="post",
            data=data,
            anon=anon_api,
            outsider=charlie_api,
            viewer=vera_api,
            unchanged=state,
        )
    assert_tenant_contract(
        f"/api/jobs/{job.pk}/",
        method="delete",
        anon=anon_api,
        outsider=charlie_api,
        viewer=vera_api,
        unchanged=state,
    )
    assert charlie_api.get("/api/jobs/").json()["results"] == []


def test_events_resume_after_seq_and_filter(alice_api, org_a, alice, tiny_model, qa_dataset):
    from training_app.events import record_event

    job = new_job(org_a, alice, tiny_model, qa_dataset)
    for i in range(5):
        record_event(job.pk, "log", {"message": f"line {i}"}, level="warning" if i % 2 else "info")
    events = alice_api.get(f"/api/jobs/{job.pk}/events/?after_seq=3").json()["results"]
    assert [e["seq"] for e in events] == [4, 5, 6]
    warnings = alice_api.get(f"/api/jobs/{job.pk}/events/?level=warning").json()["results"]
    assert [e["payload"]["message"] for e in warnings] == ["line 1", "line 3"]
    text = b"".join(alice_api.get(f"/api/jobs/{job.pk}/log/").streaming_content).decode()
    assert "line 4" in text and "STATUS" in text


def test_base_models_visible_per_org(alice_api, charlie_api, tiny_model, org_a):
    from training_app.models import BaseModel

    private = BaseModel.objects.create(name="acme-only", path="/x", enabled_for_all=False, is_valid=True)
    private.enabled_orgs.add(org_a)
    assert {m["name"] for m in alice_api.get("/api/base-models/").json()["results"]} == {
        "tiny-llama",
        "acme-only",
    }
    assert {m["name"] for m in charlie_api.get("/api/base-models/").json()["results"]} == {"tiny-llama"}
    assert charlie_api.get(f"/api/base-models/{private.pk}/").status_code == 404


def test_base_model_path_must_sit_under_model_roots(db, tmp_path):
    from llm_platform.errors import DomainError
    from training_app.base_models import register_base_model

    with pytest.raises(DomainError, match="outside the model roots"):
        register_base_model("escape", path=str(tmp_path))
    with pytest.raises(DomainError, match="outside the model roots"):
        from django.conf import settings

        register_base_model("dots", path=f"{settings.MODEL_ROOTS[0]}/../../etc")
