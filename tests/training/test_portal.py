import pytest
from django.urls import reverse

from tests.contract import assert_tenant_contract
from tests.training.conftest import make_dataset
from training_app import services
from training_app.models import TrainingJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(org_a, alice, tiny_model, qa_dataset):
    return services.create_job(
        org_a,
        alice,
        name="portal-job",
        base_model=tiny_model,
        datasets=[services.DatasetChoice(qa_dataset)],
        devices="auto",
    )


def form_data(tiny_model, dataset, **overrides):
    data = {
        "name": "from-form",
        "base_model": tiny_model.pk,
        "stage": "sft",
        "method": "lora",
        "devices": "auto",
        "seed": 7,
        f"ds_{dataset.pk}_use": "1",
        "hp_learning_rate": "0.0002",
        "hp_num_train_epochs": "2",
        "hp_do_eval_generation": "on",
    }
    data.update(overrides)
    return data


def test_new_job_form_creates_a_queued_job(client, alice, tiny_model, qa_dataset):
    client.force_login(alice)
    page = client.get(reverse("training:new")).content.decode()
    assert "learning_rate" in page and "Peak learning rate" in page and qa_dataset.name in page
    response = client.post(reverse("training:new"), form_data(tiny_model, qa_dataset))
    job = TrainingJob.objects.get(name="from-form")
    assert response.status_code == 302 and response["Location"] == reverse("training:detail", args=[job.pk])
    assert job.hyperparameters["learning_rate"] == 0.0002 and job.hyperparameters["num_train_epochs"] == 2
    assert job.hyperparameters["do_eval_generation"] is True and job.hyperparameters["packing"] is False
    assert job.seed == 7 and job.job_datasets.get().dataset == qa_dataset


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hp_learning_rate": "3"}, "must be between 0 and 1"),
        ({"name": "bad name!"}, "letters, digits"),
        ({"devices": "many"}, "use &#x27;cpu&#x27;"),
    ],
)
def test_bad_form_input_is_shown_and_nothing_is_created(
    client, alice, tiny_model, qa_dataset, overrides, message
):
    client.force_login(alice)
    response = client.post(reverse("training:new"), form_data(tiny_model, qa_dataset, **overrides))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not TrainingJob.objects.exists()


def test_form_without_datasets_says_so(client, alice, tiny_model, qa_dataset):
    client.force_login(alice)
    data = form_data(tiny_model, qa_dataset)
    del data[f"ds_{qa_dataset.pk}_use"]
    response = client.post(reverse("training:new"), data)
    assert "choose at least one dataset" in response.content.decode()
    assert not TrainingJob.objects.exists()


def test_job_list_filters_and_shows_only_own_jobs(client, alice, charlie, org_b, tiny_model, job):
    other = make_dataset(
        org_b, [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}]
    )
    services.create_job(
        org_b,
        charlie,
        name="globex-job",
        base_model=tiny_model,
        datasets=[services.DatasetChoice(other)],
        devices="auto",
    )
    client.force_login(alice)
    page = client.get(reverse("training:list")).content.decode()
    assert "portal-job" in page and "globex-job" not in page
    assert "portal-job" not in client.get(reverse("training:list") + "?status=failed").content.decode()
    assert "portal-job" in client.get(reverse("training:list") + "?q=portal").content.decode()


def test_detail_and_actions(client, alice, job):
    client.force_login(alice)
    page = client.get(reverse("training:detail", args=[job.pk])).content.decode()
    assert 'data-testid="job-status">queued<' in page and "learning_rate" in page
    client.post(reverse("training:cancel", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == "cancelled"
    response = client.post(reverse("training:cancel", args=[job.pk]), follow=True)
    assert "Cannot cancel a job that is cancelled." in response.content.decode()
    client.post(reverse("training:retry", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == "queued"
    response = client.post(reverse("training:clone", args=[job.pk]), {"name": "portal-copy"})
    clone = TrainingJob.objects.get(name="portal-copy")
    assert response["Location"] == reverse("training:detail", args=[clone.pk])
    services.cancel_job(clone)
    client.post(reverse("training:delete", args=[clone.pk]))
    assert not TrainingJob.objects.filter(pk=clone.pk).exists()


def test_portal_pages_honour_tenancy(client, job, alice, charlie, vera):
    from django.test import Client

    anon, outsider, viewer = Client(), Client(), Client()
    outsider.force_login(charlie)
    viewer.force_login(vera)

    def state():
        return list(TrainingJob.objects.values_list("pk", "status", "name"))

    assert_tenant_contract(
        reverse("training:detail", args=[job.pk]), anon=anon, outsider=outsider, portal=True
    )
    assert_tenant_contract(
        reverse("training:artifact", args=[job.pk, "adapter_config.json"]),
        anon=anon,
        outsider=outsider,
        portal=True,
    )
    for name in ["cancel", "retry", "clone", "rename", "delete", "export", "register-base"]:
        assert_tenant_contract(
            reverse(f"training:{name}", args=[job.pk]),
            method="post",
            data={"name": "zz"},
            anon=anon,
            outsider=outsider,
            viewer=viewer,
            portal=True,
            unchanged=state,
        )
    assert viewer.get(reverse("training:detail", args=[job.pk])).status_code == 200
    assert viewer.post(reverse("training:new"), {}).status_code == 403


def test_base_models_page_lists_visible_models(client, alice, tiny_model):
    client.force_login(alice)
    page = client.get(reverse("training:base-models")).content.decode()
    assert "tiny-llama" in page and "LlamaForCausalLM" in page


def test_every_hyperparameter_has_a_field_with_help_in_the_form():
    from training_app.forms import DEFAULTS, GROUPS
    from training_app.trainer.spec import HELP

    in_form = [name for _title, names in GROUPS for name in names]
    assert sorted(in_form) == sorted(DEFAULTS)
    assert all(HELP.get(name) for name in in_form)
