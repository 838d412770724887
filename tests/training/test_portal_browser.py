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
