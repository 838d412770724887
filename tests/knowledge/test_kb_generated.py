"""Generated extraction against a real OpenAI-compatible server: the platform's own gateway serving the
tiny model (a LoRA adapter) with the built-in engine. Its replies are not JSON pairs, so the test checks
the plumbing: chunks with provenance, each reply retried then the chunk skipped with its reason logged."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets_app.knowledge import services
from datasets_app.knowledge.generated import parse_reply, support
from datasets_app.knowledge.models import Chunk
from tests.knowledge.conftest import CHINESE_FAQ, extract_now
from tests.serving.conftest import adapters, gateway, succeeded_job, supervisor  # noqa: F401
from tests.serving.test_serving_e2e import wait_ready
from tests.training.conftest import tiny_model, tiny_model_dir  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_replies_are_parsed_and_answers_checked_against_their_chunk():
    assert parse_reply('```json\n[{"question": "Q?", "answer": "A."}]\n```') == [
        {"question": "Q?", "answers": ["A."]}
    ]
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_reply("Paris.")
    with pytest.raises(ValueError, match="lacks"):
        parse_reply('[{"question": "Q?"}]')
    assert (
        support("七天内申请", "请在七天内申请退货。") == 1.0
        and support("Ships to Mars", "We ship to Spain.") < 0.5
    )


def test_generated_extraction_through_the_gateway(
    settings,
    supervisor,  # noqa: F811 - shared fixtures
    gateway,  # noqa: F811
    alice,
    alice_api,
    org_a,
    tiny_model,  # noqa: F811
    adapters,  # noqa: F811
):
    job = succeeded_job(org_a, tiny_model, adapters["a"], "kb-writer")
    response = alice_api.post("/api/deployments/", {"job": job.pk, "engine": "builtin"}, format="json")
    assert response.status_code == 201, response.json()
    wait_ready("kb-writer")
    settings.SITE_URL = gateway.url  # the gateway's address as the platform announces it

    kb = services.create_knowledge_base(org_a, alice, name="Generated")
    services.add_document(kb, SimpleUploadedFile("faq.md", CHINESE_FAQ.encode()))
    services.set_endpoint(kb, "owner", alice, model="kb-writer", deployment=True)
    run = extract_now(
        kb, "generated", chunk_tokens=40, pairs_per_chunk=2, concurrency=2, retries=1, max_tokens=24
    )

    assert run.status == "succeeded", (run.message, run.traceback)
    chunks = list(Chunk.objects.filter(run=run))
    assert chunks and run.counts["chunks"] == len(chunks)
    document = kb.documents.get()
    for chunk in chunks:
        assert chunk.text == document.text[chunk.start : chunk.end] and chunk.headings[0] == "常见问题"
    # The tiny model answers in words, not JSON pairs: each chunk asked twice, then skipped with its reason.
    assert run.counts["chunks_skipped"] == len(chunks) and run.counts["retried"] == len(chunks)
    skipped = [line for line in run.log if "skipped after 2 attempts: the reply was not valid JSON" in line]
    assert len(skipped) == len(chunks)
    assert run.counts["pairs"] == kb.pairs.count() == 0
