import pytest

from tests.browser import screenshot
from tests.conftest import PASSWORD
from training_app.models import TrainingJob

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_a_job_in_the_portal(live_server, page, alice, tiny_model, qa_dataset):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/training/new/")
    page.fill("#id_name", "browser-job")
    assert page.locator("#id_base_model option:checked").inner_text() == "tiny-llama"
    page.fill("#id_devices", "auto")
    page.check(f"#ds_{qa_dataset.pk}")
    page.fill("#id_hp_learning_rate", "2")
    screenshot(page, "training-new")
    page.click("text=Start training")
    assert "must be between 0 and 1" in page.content()
    assert not TrainingJob.objects.exists()
    page.fill("#id_hp_learning_rate", "0.0001")
    page.click("text=Start training")
    page.wait_for_selector("[data-testid=job-status]")
    assert page.locator("[data-testid=job-status]").inner_text() == "queued"
    job = TrainingJob.objects.get(name="browser-job")
    assert job.hyperparameters["learning_rate"] == 0.0001
    screenshot(page, "training-detail")
    page.goto(f"{live_server.url}/training/")
    assert page.locator(f'[data-job="{job.pk}"] [data-status]').inner_text() == "queued"
    screenshot(page, "training-list")


def test_clone_opens_the_form_prefilled_and_merged_exports_are_listed(
    live_server, page, alice, org_a, tiny_model, qa_dataset, tmp_path
):
    from training_app import services
    from training_app.artifacts import upload_directory

    hp = {"learning_rate": 0.002, "lora_rank": 4, "val_ratio": 0.25, "max_steps": 7}
    job = services.create_job(
        org_a,
        alice,
        name="first",
        base_model=tiny_model,
        datasets=[services.DatasetChoice(qa_dataset, 12, None, {"name": "Ada"})],
        hyperparameters=hp,
        devices="auto",
    )
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/training/{job.pk}/")
    page.click("[data-testid=clone]")
    page.wait_for_selector("[data-testid=cloned-from]")
    assert page.input_value("#id_name") == "first-copy"
    assert page.input_value("#id_devices") == "auto"
    assert page.input_value("#id_hp_learning_rate") == "0.002"
    assert page.input_value("#id_hp_lora_rank") == "4"
    assert page.is_checked(f"#ds_{qa_dataset.pk}")
    assert page.input_value(f"[name=ds_{qa_dataset.pk}_num]") == "12"
    assert page.input_value("#placeholder_name") == "Ada"
    assert page.is_hidden("[data-testid=no-eval-note]")
    page.click("details[data-group='Data and evaluation'] summary")
    page.fill("#id_hp_val_ratio", "0")
    assert page.is_visible("[data-testid=no-eval-note]")  # said before submitting
    page.fill("#id_hp_val_ratio", "0.25")
    page.select_option("#id_stage", "dpo")
    assert page.is_visible("details[data-group=DPO]")
    page.select_option("#id_stage", "sft")
    assert page.is_hidden("details[data-group=DPO]") and page.is_hidden("details[data-group=Freeze]")
    page.fill("#id_devices", "cpu")
    screenshot(page, "training-clone-form")
    page.click("text=Start training")
    page.wait_for_selector("[data-testid=job-status]")
    copy = TrainingJob.objects.get(name="first-copy")
    assert copy.devices == "cpu" and copy.hyperparameters["learning_rate"] == 0.002
    chosen = copy.job_datasets.get()
    assert (chosen.num_samples, chosen.placeholders) == (12, {"name": "Ada"})

    merged = tmp_path / "merged"
    merged.mkdir()
    (merged / "model.safetensors").write_bytes(b"weights")
    files = upload_directory(merged, f"jobs/{job.pk}/merged")
    TrainingJob.objects.filter(pk=job.pk).update(
        status="succeeded", artifacts={"files": [], "merged_files": files}
    )
    page.goto(f"{live_server.url}/training/{job.pk}/")
    link = page.locator("[data-testid=merged-files] a")
    assert link.inner_text() == "merged/model.safetensors"
    assert page.request.get(live_server.url + link.get_attribute("href")).body() == b"weights"
    assert page.locator("[data-testid=publish-merged]").is_visible()
    screenshot(page, "training-merged-export")
