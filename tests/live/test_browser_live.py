"""The live pages in Chromium, served by daphne (websockets included) on the test database.

The first test follows a real job on a real worker from queued to succeeded without a reload; the second
drives the log tail, the whole-log page and the compare page on recorded events.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from tests.asgi import log_in
from tests.browser import screenshot
from tests.training.conftest import make_dataset, sft_rows
from training_app import services
from training_app.events import record_event
from training_app.models import JobEvent, JobStatus
from training_app.states import transition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LIVE_HP = {
    "max_steps": 150,  # the tiny model trains 20-30 steps a second here: seconds of live curve
    "logging_steps": 1,
    "learning_rate": 3e-3,
    "warmup_ratio": 0.1,
    "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 1,
    "max_seq_len": 64,
    "save_steps": 50,
    "eval_strategy": "steps",
    "eval_steps": 50,
    "val_ratio": 0.125,
    "eval_base_model": False,
    "max_eval_samples": 4,
    "eval_max_new_tokens": 8,
}
WAIT_MS = 240_000


def on_another_thread(function, *args, **kwargs):
    """Playwright's sync API keeps an event loop on this thread, where the channel layer's
    async_to_sync cannot run: record events (and push them) from a thread of their own."""

    def call():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()  # this thread's own connection, or the test database stays in use

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def script_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


@pytest.mark.slow
def test_a_running_jobs_page_follows_it_to_the_end_without_a_reload(
    asgi_server, page, workers, alice, org_a, tiny_model
):
    workers.start("cpu")
    dataset = make_dataset(org_a, sft_rows(repeat=8))
    job = services.create_job(
        org_a,
        alice,
        name="live-run",
        base_model=tiny_model,
        datasets=[services.DatasetChoice(dataset, None, None, None)],
        hyperparameters=LIVE_HP,
    )
    errors = script_errors(page)
    log_in(page, asgi_server, alice)
    page.goto(f"{asgi_server.url}/training/{job.pk}/")
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page
    page.wait_for_selector("#job-live[data-connected='1']", state="attached")
    lines_at_load = page.locator("#log .logline").count()

    page.wait_for_function(
        "() => { const d = document.getElementById('job-live').dataset;"
        " return d.status === 'running' && +d.points >= 20; }",
        timeout=WAIT_MS,
    )
    screenshot(page, "live-job-running")
    page.wait_for_function(
        "() => document.getElementById('job-live').dataset.status === 'succeeded'", timeout=WAIT_MS
    )
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    page.wait_for_function(f"() => +document.getElementById('job-live').dataset.lastSeq === {job.last_seq}")

    metrics = list(JobEvent.objects.filter(job=job, type="metric").values_list("payload", flat=True))
    losses = sum(m.get("loss") is not None for m in metrics)
    evals = sum(m.get("eval_loss") is not None for m in metrics)
    live = page.locator("#job-live")
    assert losses >= 140 and evals >= 2
    assert int(live.get_attribute("data-points")) == losses  # every point once, none twice
    assert int(live.get_attribute("data-eval-points")) == evals
    assert page.locator("#job-status").inner_text() == "succeeded"
    assert page.locator("#progress-text").inner_text() == "step 150 / 150"
    assert page.locator("#log .logline").count() > lines_at_load
    assert page.locator("#log .lvl-status").last.inner_text().endswith("status → succeeded (finished)")
    assert page.locator("#report-panel").is_visible()
    assert page.evaluate("window.sameDocument") is True
    assert not errors
    # The finished page swaps in its stored parts (files, publish, evaluation) without a reload.
    page.wait_for_function("() => document.getElementById('job-live').dataset.refreshed === '1'")
    assert page.locator("[data-testid=publish]").is_visible()
    assert page.evaluate("window.sameDocument") is True
    page.locator("#report-panel").scroll_into_view_if_needed()
    screenshot(page, "live-job-succeeded")


def test_log_tail_pauses_when_scrolled_up_and_the_log_and_compare_pages_render(
    asgi_server, page, alice, org_a, make_job
):
    hp = {"learning_rate": 0.0002, "lora_rank": 8, "num_train_epochs": 2, "lr_scheduler_type": "cosine"}
    job = make_job(org_a, "tail-test", hyperparameters=hp, status="running", current_step=60, total_steps=120)
    other = make_job(org_a, "rank-16", hyperparameters={**hp, "lora_rank": 16, "learning_rate": 0.001})

    def seed():
        for step in range(1, 61):
            level = "warning" if step % 20 else "error"
            record_event(job.pk, "log", {"message": f"step {step} done"}, level=level)
            record_event(job.pk, "metric", {"step": step, "loss": 3 / (1 + step / 10), "learning_rate": 2e-4})
            record_event(other.pk, "metric", {"step": step, "loss": 3.2 / (1 + step / 6), "eval_loss": None})
        record_event(other.pk, "metric", {"step": 60, "loss": None, "eval_loss": 0.9})

    on_another_thread(seed)

    errors = script_errors(page)
    log_in(page, asgi_server, alice)
    page.goto(f"{asgi_server.url}/training/{job.pk}/")
    page.wait_for_selector("#job-live[data-connected='1']", state="attached")
    assert not errors
    assert page.locator("#job-live").get_attribute("data-points") == "60"
    log = page.locator("#log")
    assert log.evaluate("el => el.scrollTop > 0 && el.scrollTop + el.clientHeight >= el.scrollHeight - 8")

    # Scrolled up to read: new lines arrive but the view stays where the reader is.
    log.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
    on_another_thread(record_event, job.pk, "log", {"message": "arrived while reading"}, level="error")
    page.wait_for_function(
        "() => document.querySelector('#log').lastElementChild.textContent.includes('arrived')"
    )
    assert log.evaluate("el => el.scrollTop") == 0
    assert page.locator("#log-paused").is_visible()
    assert page.locator("#log .logline").last.get_attribute("class") == "logline lvl-error"

    # Following again: back at the bottom, and the next line keeps it there.
    page.click("#log-follow")
    on_another_thread(record_event, job.pk, "metric", {"step": 61, "loss": 0.4, "learning_rate": 2e-4})
    on_another_thread(record_event, job.pk, "log", {"message": "following again"}, level="info")
    page.wait_for_function(
        "() => document.querySelector('#log').lastElementChild.textContent.includes('following')"
    )
    assert log.evaluate("el => el.scrollTop + el.clientHeight >= el.scrollHeight - 8")
    assert not page.locator("#log-paused").is_visible()
    page.wait_for_function("() => document.getElementById('job-live').dataset.points === '61'")
    screenshot(page, "live-job-log-tail")

    page.goto(f"{asgi_server.url}/training/{job.pk}/log/?level=error")
    assert page.locator("[data-testid=log-page] .logline").count() == 4  # steps 20, 40, 60 and the live one
    screenshot(page, "live-job-log-errors")

    # The job list follows the organization: a status change shows without a reload.
    page.goto(f"{asgi_server.url}/training/")
    page.wait_for_selector("body[data-org-live='1']")
    on_another_thread(transition, job.pk, JobStatus.SUCCEEDED, reason="finished")
    badge = page.locator(f"[data-job='{job.pk}'] [data-status]")
    page.wait_for_function(
        f"() => document.querySelector(\"[data-job='{job.pk}'] [data-status]\").textContent === 'succeeded'"
    )
    assert badge.get_attribute("class") == "badge succeeded"
    page.check(f"input[name=jobs][value='{job.pk}']")
    page.check(f"input[name=jobs][value='{other.pk}']")
    assert page.locator("[data-testid=compare-selected]").inner_text() == "Compare 2 selected"
    screenshot(page, "live-job-list")
    page.click("[data-testid=compare-selected]")
    # In the order the list shows them, newest first.
    page.wait_for_url(lambda url: url.endswith(f"/training/compare/?jobs={other.pk},{job.pk}"))
    assert page.locator(".compare-diff").count() == 2  # learning_rate and lora_rank
    assert (
        int(page.locator("#compare-chart").get_attribute("data-points")) == 61 + 60 + 1
    )  # train, train, eval
    screenshot(page, "live-compare")
    assert not errors
