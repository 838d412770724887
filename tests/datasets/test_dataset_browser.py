"""In Chromium: log in, upload a file, land on its detail page and read the preview as a conversation."""

import json

import pytest

from tests.browser import browser, page, screenshot  # noqa: F401 - fixtures
from tests.conftest import PASSWORD
from tests.datasets.dataset_support import isolated_media  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = [
    {
        "conversations": [
            {"from": "human", "value": f"How do I rotate API key number {i}?"},
            {
                "from": "gpt",
                "value": "Open API keys, create a new key, switch your client to it, then revoke the old one.",
            },
            {"from": "human", "value": "会影响正在运行的任务吗？"},
            {"from": "gpt", "value": "不会。已经在运行的任务不受影响。"},
        ],
        "system": "You are the Tuneforge support assistant.",
    }
    for i in range(14)
]


def test_upload_to_preview_in_the_portal(live_server, page, alice, org_a, tmp_path):  # noqa: F811
    upload = tmp_path / "support-chats.jsonl"
    content = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in ROWS)
    upload.write_text(content + '{"conversations": "oops"}\n', encoding="utf-8")

    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/login/?next=/datasets/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=datasets]")
    page.click("[data-testid=upload-link]")

    page.set_input_files("#id_file", str(upload))
    page.click("text=Column mapping")
    page.fill("#id_mapping", "{broken")
    page.click("text=Upload and check")
    assert "not valid JSON" in page.locator("[data-testid=error-mapping]").inner_text()
    screenshot(page, "dataset-upload-error")

    page.set_input_files("#id_file", str(upload))
    page.fill("#id_mapping", "")
    page.fill("#id_name", "Support chats")
    page.click("text=Upload and check")
    page.wait_for_selector("[data-testid=preview]")
    assert page.locator("[data-testid=dataset-name]").inner_text() == "Support chats"
    assert page.locator("[data-testid=rows]").inner_text() == "14"
    assert page.locator("[data-testid=row-errors]").is_visible()
    first = page.locator("[data-testid=sample]").first
    assert first.locator(".bubble.system").inner_text().endswith("You are the Tuneforge support assistant.")
    roles = first.locator(".bubble[data-role]").evaluate_all("nodes => nodes.map(n => n.dataset.role)")
    assert roles == ["user", "assistant", "user", "assistant"]
    assert "不会" in first.locator(".bubble.assistant").last.inner_text()
    assert page.locator("svg.hist rect").count() >= 3
    screenshot(page, "dataset-detail")

    page.click("[data-testid=preview-next]")
    page.wait_for_selector("text=rows 11–14 of 14")
    assert page.locator("[data-testid=sample]").count() == 4

    page.goto(f"{live_server.url}/datasets/")
    assert "Support chats" in page.locator("[data-testid=datasets]").inner_text()
    screenshot(page, "datasets")
