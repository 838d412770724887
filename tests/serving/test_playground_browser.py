"""Publishing in the portal and chatting in the playground, in Chromium, against daphne and a real engine."""

from __future__ import annotations

import pytest

from serving_app.models import Deployment
from tests.browser import screenshot
from tests.conftest import PASSWORD
from tests.serving.conftest import succeeded_job
from tests.workers import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def send(page, text: str) -> None:
    page.fill("[data-testid=prompt]", text)
    page.click("[data-testid=send]")
    page.wait_for_selector("[data-testid=send]:not([disabled])", timeout=60_000)


def answers(page, side: str) -> list[str]:
    return page.locator(f"[data-testid=log-{side}] .pg-assistant .pg-text").all_inner_texts()


def prompt_tokens(page) -> list[int]:
    usage = page.locator("[data-testid=log-tuned] .pg-assistant").evaluate_all(
        "els => els.map(e => e.dataset.usage)"
    )
    return [int(u.split(" + ")[0]) for u in usage]


def test_publish_then_chat_and_compare_with_the_base(
    supervisor,
    gateway,
    page,
    alice,
    org_a,
    tiny_model,
    adapters,
):
    job = succeeded_job(org_a, tiny_model, adapters["a"], "qa-plain")
    page.goto(f"{gateway.url}/login/?next=/deployments/new/%3Fjob%3D{job.pk}")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")

    page.wait_for_selector("[data-testid=publish-form]")
    assert page.locator("#id_job").input_value() == str(job.pk)
    page.select_option("#id_engine", "builtin")
    page.click("[data-testid=publish]")
    page.wait_for_selector("[data-testid=deployment-name]")
    # The page follows the engine as it starts, and reloads itself once the model is ready.
    page.wait_for_selector("[data-testid=playground-link]", timeout=120_000)
    assert page.locator("[data-testid=deployment-status]").inner_text() == "Ready"
    screenshot(page, "deployment-ready")

    page.click("[data-testid=playground-link]")
    page.fill("#pg-temperature", "0")
    page.dispatch_event("#pg-temperature", "input")
    send(page, "What is the capital of France?")
    assert answers(page, "tuned") == ["Paris."]
    send(page, "What do bees make?")  # a second turn: the first question and answer go with it
    first, second = prompt_tokens(page)
    assert second > first + 2
    page.click("#pg-clear")
    send(page, "What do bees make?")
    assert answers(page, "tuned") == ["Honey."]
    assert prompt_tokens(page)[0] < second

    page.check("[data-testid=compare]")
    assert page.locator("[data-testid=log-base]").is_visible()
    send(page, "Who wrote Hamlet?")
    assert answers(page, "tuned") == ["Shakespeare."]
    base = answers(page, "base")
    assert len(base) == 1 and base[0] and base[0] != "Shakespeare."
    screenshot(page, "playground-compare")
    deployment = Deployment.objects.get(name="qa-plain")
    wait_for(lambda: deployment.usage.filter(requests=4).exists(), timeout=10, message="usage to be written")
