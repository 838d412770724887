import pytest

from tests.browser import browser, page, screenshot  # noqa: F401 - fixtures
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_page_renders_and_user_sees_their_org(live_server, page, alice, org_a):  # noqa: F811
    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url
    assert page.locator("h1").inner_text() == "Tuneforge"
    screenshot(page, "login")

    page.fill("#id_username", "alice")
    page.fill("#id_password", "wrong password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").is_visible()

    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=org-name]")
    assert page.locator("[data-testid=org-name]").inner_text() == "Acme Research"
    assert page.locator("[data-testid=org-switcher]").is_visible()
    screenshot(page, "home")

    page.goto(f"{live_server.url}/api-keys/")
    page.fill("#id_name", "browser key")
    page.click("text=Create key")
    key = page.locator("[data-testid=new-key]").inner_text()
    assert key.startswith("tf_")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click(".newkey [data-testid=copy]")
    page.wait_for_selector(".newkey [data-testid=copy]:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == key
    screenshot(page, "api-keys")
