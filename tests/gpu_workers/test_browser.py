"""The GPUs page in Chromium, served by daphne with websockets, following the fleet without a reload."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from gpu_workers.live import push_devices
from gpu_workers.models import Device
from gpu_workers.queues import get_queue
from gpu_workers.worker import register
from tests.asgi import log_in, test_server
from tests.browser import screenshot
from tests.gpu_workers.support import submit
from training_app import services
from training_app.models import BaseModel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def elsewhere(function, *args, **kwargs):
    """Pushes use async_to_sync, which cannot run on Playwright's event-loop thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args, **kwargs).result()


@pytest.fixture
def asgi_server(transactional_db):
    with test_server("daphne-gpus-test.log") as server:
        yield server


def test_the_gpus_page_follows_readings_and_jobs_live(
    asgi_server, page, org_a, org_b, alice, charlie, qa_data, qa_data_b
):
    model = BaseModel.objects.create(name="base", path="/models/base", is_valid=True)
    device, _ = elsewhere(register, "cpu", 0)  # as a worker registers it, from this process
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, asgi_server, alice)
    page.goto(f"{asgi_server.url}/gpus/")
    page.wait_for_selector("body[data-org-live='1']", state="attached")
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page
    row = page.locator(f"[data-device='{device.pk}']")
    expect(row.get_by_test_id("device-job")).to_have_text("idle")

    def reading(utilization: int) -> None:
        Device.objects.filter(pk=device.pk).update(utilization=utilization)
        push_devices([device.pk])

    elsewhere(reading, 77)
    expect(row.locator("[data-field='utilization']")).to_have_text("77")
    expect(row.locator("[data-bar='utilization'] > span")).to_have_attribute("style", "width: 77%;")

    own = elsewhere(submit, org_a, alice, qa_data, model, "acme-live-run")  # placed on the slot at once
    expect(row.get_by_test_id("device-job")).to_have_text("acme-live-run")
    screenshot(page, "gpus-own-job")
    elsewhere(services.cancel_job, own)
    expect(row.get_by_test_id("device-job")).to_have_text("idle")

    other = elsewhere(submit, org_b, charlie, qa_data_b, model, "globex-live-run")
    expect(row.get_by_test_id("device-job")).to_have_text("busy")
    expect(page.get_by_test_id("queue")).to_have_text("1 job waiting for a device, 0 of them yours.")
    assert "globex-live-run" not in page.content()
    assert page.evaluate("window.sameDocument") is True
    assert not errors
    screenshot(page, "gpus-other-orgs-job")
    elsewhere(services.cancel_job, other)
    get_queue(device.queue_name).empty()  # no worker consumes it
