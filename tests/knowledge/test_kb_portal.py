"""Knowledge-base portal pages: outsiders get 404 on every page and form, viewers cannot write."""

import pytest
from django.test import Client

from datasets_app.knowledge import review, services
from datasets_app.knowledge.models import QAPair
from tests.contract import assert_tenant_contract
from tests.datasets.dataset_support import isolated_media  # noqa: F401
from tests.knowledge.conftest import CHINESE_FAQ, extract_now

pytestmark = pytest.mark.django_db


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_portal_pages_are_tenant_checked(org_a, alice, vera, charlie):
    from django.core.files.uploadedfile import SimpleUploadedFile

    kb = services.create_knowledge_base(org_a, alice, name="Support")
    services.add_document(kb, SimpleUploadedFile("faq.md", CHINESE_FAQ.encode()))
    extract_now(kb)
    pair = QAPair.objects.first()
    owner = client_for(alice)
    page = owner.get(f"/datasets/knowledge/{kb.pk}/review/")
    assert page.status_code == 200 and "怎么退货？" in page.content.decode()
    assert "faq.md" in owner.get(f"/datasets/knowledge/{kb.pk}/").content.decode()

    common = {
        "anon": client_for(),
        "outsider": client_for(charlie),
        "viewer": client_for(vera),
        "portal": True,
    }
    state = lambda: list(QAPair.objects.values_list("question", "status"))  # noqa: E731
    for url in (f"/datasets/knowledge/{kb.pk}/", f"/datasets/knowledge/{kb.pk}/review/"):
        assert_tenant_contract(url, **common)
    for url, data in (
        (f"/datasets/knowledge/{kb.pk}/extract/", {"mode": "structured"}),
        (f"/datasets/knowledge/{kb.pk}/accept-all/", {}),
        (f"/datasets/knowledge/{kb.pk}/export/", {"layout": "alpaca"}),
        (f"/datasets/knowledge/{kb.pk}/endpoint/", {"model": "m", "deployment": "on"}),
        (f"/datasets/knowledge/{kb.pk}/upload/", {}),
        (f"/datasets/knowledge/{kb.pk}/pairs/{pair.pk}/", {"action": "accept"}),
    ):
        assert_tenant_contract(url, method="post", data=data, unchanged=state, **common)
    assert "Support" not in client_for(charlie).get("/datasets/knowledge/").content.decode()

    owner.post(
        f"/datasets/knowledge/{kb.pk}/pairs/{pair.pk}/",
        {"action": "save", "question": "如何退货？", "answers": "A1\n---\nA2"},
    )
    pair.refresh_from_db()
    assert (pair.question, pair.answers) == ("如何退货？", ["A1", "A2"])
    owner.post(f"/datasets/knowledge/{kb.pk}/accept-all/", {})
    assert review.export_pairs(kb, alice).dataset.num_rows == 4
