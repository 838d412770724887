"""Knowledge bases through the REST API: documents in, structured extraction on a real RQ worker, review,
near-duplicates, export to a dataset, the endpoint key at rest, and the tenancy contract everywhere."""

import json

import pytest

from datasets_app.knowledge.models import KnowledgeBase, KnowledgeDocument, QAPair
from datasets_app.knowledge.secrets import decrypt
from datasets_app.models import Dataset
from datasets_app.services import preview_rows
from tests.contract import assert_tenant_contract
from tests.datasets.dataset_support import isolated_media, stored_files  # noqa: F401
from tests.knowledge.conftest import (
    CHINESE_FAQ,
    CHINESE_FAQ_PAIRS,
    QA_ROWS,
    pdf_bytes,
    upload_document,
    work,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def kb(alice_api):
    response = alice_api.post("/api/knowledge-bases/", {"name": "Support"}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def pairs_of(client, **params):
    return client.get("/api/qa-pairs/", {"page_size": 200, **params}).json()["results"]


def test_structured_extraction_review_and_export(alice_api, kb, queue):
    faq = upload_document(alice_api, kb["id"], CHINESE_FAQ.encode(), "常见问题.md")
    assert faq.status_code == 201, faq.json()
    csv = "\n".join(",".join(row) for row in QA_ROWS).encode()
    qa_list = upload_document(alice_api, kb["id"], csv, "faq.csv").json()
    assert (qa_list["kind"], qa_list["entries"], qa_list["skipped"]) == (
        "qa_list",
        2,
        {"disabled": 1, "no_question": 1, "no_answer": 1},
    )
    pdf = upload_document(
        alice_api, kb["id"], pdf_bytes(["Setup: plug it in.", "Cleaning: wipe it."]), "m.pdf"
    )
    assert pdf.json()["pages"] == 2

    run = alice_api.post(f"/api/knowledge-bases/{kb['id']}/extract/", {"mode": "structured"}, format="json")
    assert run.status_code == 202 and run.json()["status"] == "queued", run.json()
    work(queue)
    run = alice_api.get(f"/api/extraction-runs/{run.json()['id']}/").json()
    assert (run["status"], run["progress"], run["counts"]["pairs"]) == ("succeeded", 1.0, 5), run
    assert run["counts"]["skipped_entries"] == {"disabled": 1, "no_question": 1, "no_answer": 1}
    assert "faq.csv: skipped 1 entries (disabled)" in run["log"]

    # The FAQ gives exactly its pairs, each with where it came from.
    found = pairs_of(alice_api, knowledge_base=kb["id"], document=faq.json()["id"])
    assert [(p["question"], p["answers"][0], p["headings"]) for p in found] == CHINESE_FAQ_PAIRS
    document = KnowledgeDocument.objects.get(pk=faq.json()["id"])
    assert all(document.text[p["start"] : p["end"]].startswith(("问：", "问题：")) for p in found)
    imported = pairs_of(alice_api, document=qa_list["id"])
    assert [(p["question"], p["answers"], p["line"], p["source"]) for p in imported] == [
        ("What are your hours?", ["9 to 5.", "Nine to five on weekdays."], 2, "imported"),
        ("Do you ship abroad?", ["Yes."], 3, "imported"),
    ]

    # Running again adds nothing already there.
    alice_api.post(f"/api/knowledge-bases/{kb['id']}/extract/", {"mode": "structured"}, format="json")
    work(queue)
    assert QAPair.objects.filter(knowledge_base_id=kb["id"]).count() == 5

    # Near-duplicates are grouped, so one can be kept.
    dup = b'{"question": "what are your hours", "answer": "From nine."}\n{"question": "Where are you?", "answer": "Here."}\n'
    upload_document(alice_api, kb["id"], dup, "more.jsonl")
    alice_api.post(f"/api/knowledge-bases/{kb['id']}/extract/", {"mode": "structured"}, format="json")
    work(queue)
    groups = alice_api.get(f"/api/knowledge-bases/{kb['id']}/duplicates/").json()
    assert [[p["question"] for p in group] for group in groups] == [
        ["What are your hours?", "what are your hours"]
    ]

    # Review: reject the duplicate, edit one, accept the rest; filters by status and document.
    assert alice_api.post(f"/api/qa-pairs/{groups[0][1]['id']}/reject/").json()["status"] == "rejected"
    assert alice_api.get(f"/api/knowledge-bases/{kb['id']}/duplicates/").json() == []
    edited = alice_api.patch(f"/api/qa-pairs/{found[0]['id']}/", {"question": "如何退货？"}, format="json")
    assert edited.json()["question"] == "如何退货？" and edited.json()["status"] == "pending"
    bad = alice_api.patch(f"/api/qa-pairs/{found[0]['id']}/", {"answers": [""]}, format="json")
    assert bad.status_code == 400 and "answers" in bad.json()["error"]["fields"]
    accepted = alice_api.post(
        f"/api/knowledge-bases/{kb['id']}/accept-all/", {"document": faq.json()["id"]}, format="json"
    )
    assert accepted.json() == {"accepted": 3}
    assert alice_api.post(f"/api/qa-pairs/{imported[0]['id']}/accept/").json()["status"] == "accepted"
    assert len(pairs_of(alice_api, knowledge_base=kb["id"], status="accepted")) == 4
    assert len(pairs_of(alice_api, knowledge_base=kb["id"], status="pending")) == 2  # "Do you ship", "Where"
    assert alice_api.get("/api/qa-pairs/", {"status": "maybe"}).status_code == 400

    # Export: one row per answer, a system prompt, the dataset records its knowledge base and pairs.
    export = alice_api.post(
        f"/api/knowledge-bases/{kb['id']}/export/",
        {"layout": "messages", "system_prompt": "You are the support desk."},
        format="json",
    )
    assert export.status_code == 201, export.json()
    body = export.json()
    assert (body["version"], body["dataset"]["status"], body["dataset"]["num_rows"]) == (1, "ready", 5)
    dataset = Dataset.objects.get(pk=body["dataset"]["id"])
    assert dataset.knowledge_export.knowledge_base_id == kb["id"]
    assert sorted(body["pairs"]) == sorted(
        p["id"] for p in pairs_of(alice_api, knowledge_base=kb["id"], status="accepted")
    )
    rows = preview_rows(dataset, 0, 10)
    assert rows[0]["system"] == "You are the support desk."
    assert {
        r["messages"][-1]["content"] for r in rows if r["messages"][0]["content"] == "What are your hours?"
    } == {"9 to 5.", "Nine to five on weekdays."}
    again = alice_api.post(
        f"/api/knowledge-bases/{kb['id']}/export/", {"layout": "alpaca"}, format="json"
    ).json()
    assert again["version"] == 2 and again["dataset"]["id"] != body["dataset"]["id"]
    assert again["dataset"]["format"] == "alpaca" and again["dataset"]["num_rows"] == 5


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("locked.pdf", pdf_bytes(["Secret."], password="pw"), "encrypted"),
        ("scan.pdf", pdf_bytes(["x"], blank=True), "no_text_layer"),
        ("empty.md", b"", "empty_file"),
        ("notes.rtf", b"{\\rtf1 hi}", "unsupported_extension"),
        ("list.csv", b"question,answer\nHello?,\n", "no_entries"),
    ],
)
def test_a_bad_document_is_refused_by_name_and_nothing_is_kept(alice_api, kb, name, content, code):
    response = upload_document(alice_api, kb["id"], content, name)
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == code
    assert name in response.json()["error"]["message"]
    assert not KnowledgeDocument.objects.exists() and stored_files() == []


def test_the_endpoint_key_is_stored_encrypted_and_never_shown(alice_api, bob_api, kb, org_a):
    url = f"/api/knowledge-bases/{kb['id']}/endpoint/"
    body = {"base_url": "https://llm.example.com/v1", "model": "qwen", "api_key": "sk-very-secret"}
    assert bob_api.put(url, body, format="json").status_code == 403  # members may not
    response = alice_api.put(url, body, format="json")
    assert response.status_code == 200, response.json()
    assert "sk-very-secret" not in json.dumps(response.json()) and response.json()["llm_key_set"] is True
    stored = KnowledgeBase.objects.get(pk=kb["id"]).llm_key_encrypted
    assert "sk-very-secret" not in stored and decrypt(stored) == "sk-very-secret"
    assert "sk-very-secret" not in json.dumps(alice_api.get(f"/api/knowledge-bases/{kb['id']}/").json())
    # The same endpoint again without the key keeps it; another address needs one.
    assert alice_api.put(url, {**body, "api_key": ""}, format="json").status_code == 200
    other = alice_api.put(
        url, {**body, "base_url": "https://other.example.com/v1", "api_key": ""}, format="json"
    )
    assert other.status_code == 400 and "api_key" in other.json()["error"]["fields"]
    # A deployment is reached through the platform's gateway with a key minted for this organization.
    deployed = alice_api.put(url, {"deployment": True, "model": "support-bot"}, format="json").json()
    assert deployed["llm_base_url"].endswith("/v1") and deployed["llm_is_deployment"] is True
    assert org_a.api_keys.filter(name__startswith="knowledge base").count() == 1


def test_generated_extraction_needs_an_endpoint_and_options_in_range(alice_api, kb):
    url = f"/api/knowledge-bases/{kb['id']}/extract/"
    assert alice_api.post(url, {"mode": "generated"}, format="json").json()["error"]["code"] == "no_endpoint"
    wrong = alice_api.post(url, {"mode": "structured", "pairs_per_chunk": 99}, format="json")
    assert wrong.status_code == 400 and "pairs_per_chunk" in wrong.json()["error"]["fields"]


def test_outsiders_get_404_and_viewers_cannot_write(alice_api, anon_api, charlie_api, vera_api, kb, queue):
    upload_document(alice_api, kb["id"], CHINESE_FAQ.encode(), "faq.md")
    alice_api.post(f"/api/knowledge-bases/{kb['id']}/extract/", {"mode": "structured"}, format="json")
    work(queue)
    pair = QAPair.objects.first()
    document = KnowledgeDocument.objects.first()
    run_id = alice_api.get("/api/extraction-runs/").json()["results"][0]["id"]
    base = f"/api/knowledge-bases/{kb['id']}"

    def state():
        return list(QAPair.objects.values_list("question", "status")), KnowledgeDocument.objects.count()

    common = {"anon": anon_api, "outsider": charlie_api, "viewer": vera_api, "unchanged": state}
    for url in (
        f"{base}/",
        f"{base}/duplicates/",
        f"/api/qa-pairs/{pair.pk}/",
        f"/api/extraction-runs/{run_id}/",
        f"/api/knowledge-documents/{document.pk}/",
    ):
        assert_tenant_contract(url, **common)
    for url, data in (
        (f"{base}/extract/", {"mode": "structured"}),
        (f"{base}/accept-all/", {}),
        (f"{base}/export/", {"layout": "alpaca"}),
        (f"/api/qa-pairs/{pair.pk}/accept/", {}),
        (f"/api/qa-pairs/{pair.pk}/reject/", {}),
    ):
        assert_tenant_contract(url, method="post", data=data, **common)
    assert_tenant_contract(f"/api/qa-pairs/{pair.pk}/", method="patch", data={"question": "x"}, **common)
    assert_tenant_contract(f"/api/knowledge-documents/{document.pk}/", method="delete", **common)
    assert_tenant_contract(
        f"{base}/endpoint/", method="put", data={"model": "m", "deployment": True}, **common
    )
    assert_tenant_contract(f"{base}/documents/", method="post", data={"file": ""}, fmt="multipart", **common)
    for url in (
        "/api/knowledge-bases/",
        "/api/qa-pairs/",
        "/api/extraction-runs/",
        "/api/knowledge-documents/",
    ):
        assert charlie_api.get(url).json()["results"] == []
    assert charlie_api.get("/api/qa-pairs/", {"knowledge_base": kb["id"]}).json()["results"] == []
