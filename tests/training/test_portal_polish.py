"""A newcomer's first day, server side: evaluation by default (capped), what the pages show."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from datasets_app.materialise import materialise_for_job
from datasets_app.models import Dataset
from tests.training.conftest import make_dataset, sft_rows
from tests.training.test_jobs_api import job_body
from tests.training.test_portal import form_data
from training_app import services
from training_app.events import record_event
from training_app.models import JobEvent, TrainingJob
from training_app.states import transition

pytestmark = pytest.mark.django_db


def test_api_and_portal_hold_out_a_tenth_by_default(alice_api, client, alice, tiny_model, qa_dataset):
    response = alice_api.post("/api/jobs/", job_body(tiny_model, qa_dataset), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["hyperparameters"]["val_ratio"] == 0.1
    assert "BLEU/ROUGE" in response.json()["evaluation"]
    client.force_login(alice)
    page = client.get(reverse("training:new")).content.decode()
    assert 'name="hp_val_ratio"' in page and 'placeholder="default"' in page
    client.post(reverse("training:new"), form_data(tiny_model, qa_dataset))
    assert TrainingJob.objects.get(name="from-form").hyperparameters["val_ratio"] == 0.1


def test_default_held_out_share_is_capped_in_rows(org_a, alice, tiny_model, tmp_path):
    big = make_dataset(org_a, sft_rows(repeat=500), name="big")  # 4000 rows: a tenth would be 400
    job = services.create_job(
        org_a, alice, name="big-run", base_model=tiny_model, datasets=[services.DatasetChoice(big)]
    )
    data = materialise_for_job(
        list(job.job_datasets.all()), tmp_path, seed=job.seed, val_ratio=job.hyperparameters["val_ratio"]
    )
    assert data.counts["val"] == services.DEFAULT_HELD_OUT_ROWS


@pytest.mark.parametrize(
    ("hyperparameters", "stage_words"),
    [({"val_ratio": 0}, "none: no rows are held out"), ({"do_eval_generation": False}, "none: no rows")],
)
def test_no_evaluation_is_said_in_the_answer(alice_api, tiny_model, qa_dataset, hyperparameters, stage_words):
    body = job_body(tiny_model, qa_dataset, hyperparameters=hyperparameters)
    response = alice_api.post("/api/jobs/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["hyperparameters"]["val_ratio"] == 0
    assert response.json()["evaluation"].startswith(stage_words)


def test_run_time_counts_every_attempt(client, alice, org_a, tiny_model, qa_dataset):
    job = services.create_job(
        org_a, alice, name="retried", base_model=tiny_model, datasets=[services.DatasetChoice(qa_dataset)]
    )
    for status in ("running", "failed", "queued", "running", "succeeded"):
        transition(job, status)
    start = timezone.now() - timedelta(minutes=5)
    offsets = {"running": [0, 100], "failed": [30], "queued": [60], "succeeded": [113]}
    for event in JobEvent.objects.filter(job=job, type="status").exclude(payload__reason="created"):
        seconds = offsets[event.payload["to"]].pop(0)
        JobEvent.objects.filter(pk=event.pk).update(created_at=start + timedelta(seconds=seconds))
    client.force_login(alice)
    page = client.get(reverse("training:detail", args=[job.pk])).content.decode()
    assert "took 43 s over 2 attempts" in page
    assert 'data-earlier-seconds="30.000" data-runs="2"' in page


def test_a_panel_holding_an_error_opens_and_the_tiny_model_is_labelled(client, alice, tiny_model, qa_dataset):
    assert tiny_model.is_test_model
    client.force_login(alice)
    page = client.get(reverse("training:new")).content.decode()
    assert f"{tiny_model.name} (tiny test model, {tiny_model.parameter_count:,} parameters" in page
    assert '<details class="panel" data-group="LoRA">' in page
    response = client.post(reverse("training:new"), form_data(tiny_model, qa_dataset, hp_lora_rank="5000"))
    page = response.content.decode()
    assert response.status_code == 200 and "lora_rank" in page
    assert '<details class="panel" data-group="LoRA" open>' in page
    assert '<details class="panel" data-group="Freeze">' in page


def test_large_numbers_have_thousands_separators(client, alice, org_a, tiny_model, qa_dataset):
    Dataset.objects.filter(pk=qa_dataset.pk).update(num_rows=1_234_567, rows_in=1_300_000)
    job = services.create_job(
        org_a, alice, name="long-run", base_model=tiny_model, datasets=[services.DatasetChoice(qa_dataset)]
    )
    TrainingJob.objects.filter(pk=job.pk).update(current_step=12_345, total_steps=250_000)
    client.force_login(alice)
    dataset_page = client.get(reverse("datasets:detail", args=[qa_dataset.pk])).content.decode()
    assert "1,234,567" in dataset_page and "1,300,000" in dataset_page
    assert "1,234,567" in client.get(reverse("training:new")).content.decode()
    assert "step 12,345 / 250,000" in client.get(reverse("training:detail", args=[job.pk])).content.decode()
    assert "12,345/250,000" in client.get(reverse("training:list")).content.decode()


def _finished_job(org, user, model, dataset, name, stage="sft", **fields):
    job = services.create_job(
        org, user, name=name, base_model=model, stage=stage, datasets=[services.DatasetChoice(dataset)]
    )
    TrainingJob.objects.filter(pk=job.pk).update(**fields)
    return job


def test_compare_shows_evaluation_scores_tuned_and_base(client, alice, org_a, tiny_model, qa_dataset):
    first = _finished_job(
        org_a,
        alice,
        tiny_model,
        qa_dataset,
        "first",
        report={"bleu_4": 0.41234},
        base_report={"bleu_4": 0.031},
    )
    second = _finished_job(org_a, alice, tiny_model, qa_dataset, "second", report={"bleu_4": 0.2})
    client.force_login(alice)
    page = client.get(reverse("training:compare") + f"?jobs={first.pk},{second.pk}").content.decode()
    assert 'data-testid="compare-scores"' in page
    assert "<td>0.4123 (base 0.0310)</td><td>0.2000</td>" in page


def test_dpo_rewards_on_the_job_page_and_compare(client, alice, org_a, tiny_model):
    pairs = [
        {"messages": [{"role": "user", "content": f"q{i}"}], "chosen": "yes", "rejected": "no"}
        for i in range(12)
    ]
    preferences = make_dataset(org_a, pairs, name="prefs", kind="preference")
    job = _finished_job(org_a, alice, tiny_model, preferences, "dpo-run", stage="dpo")
    for step, accuracy, margin in ((5, 0.25, 0.01), (10, 0.875, 0.42)):
        extra = {"rewards/accuracies": accuracy, "rewards/margins": margin, "rewards/chosen": 0.3}
        record_event(job.pk, "metric", {"step": step, "loss": 0.6, "extra": extra})
    client.force_login(alice)
    page = client.get(reverse("training:detail", args=[job.pk])).content.decode()
    assert 'data-testid="preference"' in page
    assert (
        '<tr data-key="rewards/accuracies"><td>Reward accuracy</td><td>0.2500</td><td class="latest">0.8750</td>'
        in page
    )
    assert "Reward of rejected" not in page.split('id="preference-table"')[1].split("</table>")[0]
    compare = client.get(reverse("training:compare") + f"?jobs={job.pk}").content.decode()
    assert "Reward margin (last logged)" in compare and "0.42" in compare
