"""The newcomer's first run, in Chromium: the home page's demo job trains the tiny model its name on a
real worker, its page finishes itself, the evaluation survives a reload, and after publishing the
playground shows the tuned model answering with the name while the base model does not."""

from __future__ import annotations

import pytest

from datasets_app.services import sync_presets
from tests.asgi import log_in
from tests.browser import screenshot
from tests.serving.test_playground_browser import answers, send
from training_app.demo import DEMO_ASSISTANT_NAME
from training_app.models import TrainingJob

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
WAIT_MS = 400_000


def test_the_demo_job_learns_its_name_in_front_of_you(supervisor, gateway, workers, page, alice, tiny_model):
    sync_presets()
    workers.start("cpu")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, gateway, alice)
    page.goto(f"{gateway.url}/")
    assert "tiny test model" in page.locator("[data-testid=demo-offer]").inner_text()
    screenshot(page, "home-demo-offer")
    page.click("[data-testid=demo-start]")
    page.wait_for_selector("[data-testid=job-status]")
    job = TrainingJob.objects.get(organization__slug="acme")
    assert job.job_datasets.get().placeholders["name"] == DEMO_ASSISTANT_NAME

    # The page follows the run to its end and fills in what a reload would show, without one.
    page.evaluate("window.sameDocument = true")
    page.wait_for_function(
        "() => document.getElementById('job-live').dataset.refreshed === '1'", timeout=WAIT_MS
    )
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert page.evaluate("window.sameDocument") is True
    assert page.locator("[data-testid=publish]").is_visible()
    assert page.locator("#files-panel ul.files li").count() > 0
    assert page.locator("#last-checkpoint").inner_text() == str(job.last_checkpoint_step)
    report_live = page.locator("#report-panel").inner_text()
    log_live = page.locator("#log .logline").all_inner_texts()
    assert "Base model" in report_live and "Prompt:" in report_live
    assert any(line.endswith("evaluation report ready") for line in log_live)
    assert any("checkpoint saved at step" in line for line in log_live)
    page.locator("#report-panel").scroll_into_view_if_needed()
    screenshot(page, "demo-job-finished")

    page.reload()
    assert page.locator("#report-panel").inner_text() == report_live
    assert [line.split(" ", 1)[1] for line in page.locator("#log .logline").all_inner_texts()] == [
        line.split(" ", 1)[1] for line in log_live
    ]
    assert not errors

    page.goto(f"{gateway.url}/deployments/new/?job={job.pk}")
    page.select_option("#id_engine", "builtin")
    page.click("[data-testid=publish]")
    page.wait_for_selector("[data-testid=playground-link]", timeout=120_000)
    page.click("[data-testid=playground-link]")
    page.fill("#pg-temperature", "0")
    page.dispatch_event("#pg-temperature", "input")
    page.check("[data-testid=compare]")
    send(page, "What is your name?")
    tuned, base = answers(page, "tuned"), answers(page, "base")
    screenshot(page, "demo-playground-compare")
    assert DEMO_ASSISTANT_NAME in tuned[0], tuned
    assert DEMO_ASSISTANT_NAME not in base[0], base
