"""In Chromium, against daphne: create a knowledge base, upload a FAQ, extract (the run's progress arrives
over the org websocket), review, accept all and export it as a dataset."""

import subprocess
import sys

import pytest
from django.conf import settings

from tests.asgi import log_in, test_server
from tests.browser import browser, page, screenshot  # noqa: F401 - fixtures
from tests.knowledge.conftest import CHINESE_FAQ
from tests.workers import worker_env

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_upload_extract_review_export_in_the_portal(page, alice, org_a, queue, tmp_path):  # noqa: F811
    faq = tmp_path / "常见问题.md"
    faq.write_text(CHINESE_FAQ, encoding="utf-8")
    page.set_default_timeout(15_000)
    with test_server("daphne-kb-browser.log") as server:
        log_in(page, server, alice)
        page.goto(f"{server.url}/datasets/knowledge/")
        page.fill("[data-testid=create-kb] input[name=name]", "Support FAQ")
        page.click("[data-testid=create-kb] button")
        page.set_input_files("[data-testid=upload-document] input[type=file]", str(faq))
        page.click("[data-testid=upload-document] button")
        page.wait_for_selector("[data-testid=documents] >> text=常见问题.md")

        page.select_option("[data-testid=extract] select[name=mode]", "structured")
        page.click("[data-testid=extract] button")
        page.wait_for_selector("[data-run] [data-field=status]:text('queued')")
        page.wait_for_function("document.body.dataset.orgLive === '1'")
        # A real RQ worker process; its progress reaches the open page over the websocket.
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        subprocess.run([*manage, "rqworker", "default", "--burst"], env=worker_env(), check=True, timeout=120)
        page.wait_for_selector("[data-run] [data-field=status]:text('succeeded')")
        assert "3 pairs" in page.locator("[data-run] [data-field=message]").inner_text()
        screenshot(page, "kb-extracted")

        page.click("[data-testid=review-link]")
        assert page.locator("[data-testid=pairs] tr[data-pair]").count() == 3
        first = page.locator("[data-testid=pairs] tr[data-pair]").first
        first.locator("input[name=question]").fill("如何退货？")
        first.locator("button[value=save]").click()
        assert page.locator("[data-testid=pairs] input[name=question]").first.input_value() == "如何退货？"
        page.locator("[data-testid=pairs] tr[data-pair]").nth(2).locator("button[value=reject]").click()
        page.click("[data-testid=accept-all]")
        assert page.locator("text=2 pairs accepted.").is_visible()
        screenshot(page, "kb-review")

        page.click("text=Support FAQ")
        page.fill("[data-testid=export] input[name=system_prompt]", "You are the support desk.")
        page.click("[data-testid=export] button")
        page.wait_for_selector("[data-testid=exports] >> text=Support FAQ QA v1")
        assert "2 rows" in page.locator("[data-testid=exports]").inner_text()
