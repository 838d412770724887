"""An extraction's progress reaches the organization's open pages over /ws/org/, and nobody else's."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets_app.knowledge import services
from tests.asgi import session_cookie
from tests.datasets.dataset_support import isolated_media  # noqa: F401
from tests.knowledge.conftest import CHINESE_FAQ, extract_now
from tests.live.test_job_socket import TIMEOUT, socket_for

pytestmark = pytest.mark.django_db(transaction=True)


def _knowledge_base_with_a_faq(org, user):
    kb = services.create_knowledge_base(org, user, name="Support")
    services.add_document(kb, SimpleUploadedFile("faq.md", CHINESE_FAQ.encode()))
    return kb


async def test_extraction_progress_is_pushed_to_members_only(org_a, alice, charlie):
    member = socket_for("/ws/org/", await database_sync_to_async(session_cookie)(alice))
    outsider = socket_for("/ws/org/", await database_sync_to_async(session_cookie)(charlie))
    assert (await member.connect(timeout=TIMEOUT))[0] and (await outsider.connect(timeout=TIMEOUT))[0]

    kb = await database_sync_to_async(_knowledge_base_with_a_faq)(org_a, alice)
    run = await database_sync_to_async(extract_now)(kb)

    seen = []
    while not seen or seen[-1]["status"] != "succeeded":
        message = await member.receive_json_from(timeout=TIMEOUT)
        if message["type"] == "kb.extraction":
            seen.append(message)
    assert {m["run"] for m in seen} == {run.pk} and {m["knowledge_base"] for m in seen} == {kb.pk}
    assert seen[-1]["progress"] == 1.0 and seen[-1]["counts"]["pairs"] == run.counts["pairs"] > 0
    assert await outsider.receive_nothing(timeout=1)
    await member.disconnect(timeout=TIMEOUT)
    await outsider.disconnect(timeout=TIMEOUT)
