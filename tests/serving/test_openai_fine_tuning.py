"""The OpenAI fine-tuning API driven by the official ``openai`` client only, as a team migrating from the
hosted API would: files, jobs ("auto" hyperparameters, a suffix, metadata), paging, pause and resume,
events, checkpoints, then chat with the fine-tuned model and a checkpoint model, and a DPO job.

Real parts: daphne serving the platform, a gpuworker on the CPU training the tiny model, the serving
supervisor loading the adapters into a built-in engine on first use.
"""

from __future__ import annotations

import json

import openai
import pytest
from openai import OpenAI

from gpu_workers.models import Device
from llm_platform.models import ApiKey, AuditEntry, Role
from tests.asgi import test_server
from tests.training.conftest import QA
from tests.workers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHAT_ROWS = [
    {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
    for _ in range(3)
    for q, a in QA
]
DPO_ROWS = [
    {
        "input": {"messages": [{"role": "user", "content": q}]},
        "preferred_output": [{"role": "assistant", "content": a}],
        "non_preferred_output": [{"role": "assistant", "content": "I do not know."}],
    }
    for _ in range(2)
    for q, a in QA
]


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


@pytest.fixture
def server(transactional_db):
    with test_server("daphne-openai-ft.log", SERVING_DEFAULT_ENGINE="builtin") as running:
        yield running


def wait_job(client: OpenAI, job_id: str, statuses: set[str], timeout: float = 300):
    return wait_for(
        lambda: (job := client.fine_tuning.jobs.retrieve(job_id)).status in statuses and job,
        timeout=timeout,
        interval=0.5,
        message=f"{job_id} to be {statuses}",
    )


def chat(client: OpenAI, model: str) -> tuple[str, str]:
    """(plain answer, streamed answer) of ``model``, each checked to name the model as asked."""
    messages = [{"role": "user", "content": QA[0][0]}]
    plain = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=8)
    assert plain.model == model
    chunks = list(
        client.chat.completions.create(
            model=model, messages=messages, temperature=0, max_tokens=8, stream=True
        )
    )
    assert {c.model for c in chunks} == {model}
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return plain.choices[0].message.content, streamed


def test_openai_client_fine_tunes_and_calls_the_result(server, workers, supervisor, tiny_model, org_a, org_b):
    api_key, key = ApiKey.issue(org_a, name="migrated", role=Role.MEMBER)
    _, other_key = ApiKey.issue(org_b, name="outsider", role=Role.MEMBER)
    client = OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)
    outsider = OpenAI(base_url=f"{server.url}/v1", api_key=other_key, max_retries=0)

    # Files: upload, wait for processing, page, refuse a bad one (naming its line).
    uploaded = client.files.create(file=("qa.jsonl", jsonl(CHAT_ROWS)), purpose="fine-tune")
    assert uploaded.id.startswith("file-") and uploaded.filename == "qa.jsonl"
    assert client.files.wait_for_processing(uploaded.id, poll_interval=0.2).status == "processed"
    with pytest.raises(openai.BadRequestError) as bad_file:
        client.files.create(file=("bad.jsonl", b'{"messages": [}\n'), purpose="fine-tune")
    assert "bad.jsonl" in bad_file.value.body["message"] and bad_file.value.body["param"] == "file"
    second = client.files.create(file=("dpo.jsonl", jsonl(DPO_ROWS)), purpose="fine-tune")
    first_page = client.files.list(limit=1)
    assert [f.id for f in first_page.data] == [second.id] and first_page.has_more
    assert [f.id for f in client.files.list(limit=1, after=second.id).data] == [uploaded.id]
    assert client.files.content(uploaded.id).content == jsonl(CHAT_ROWS)

    # Errors in the client's classes: an unknown model, another organization's job, reinforcement.
    with pytest.raises(openai.NotFoundError) as unknown:
        client.fine_tuning.jobs.create(model="no-such-model", training_file=uploaded.id)
    assert unknown.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as rft:
        client.fine_tuning.jobs.create(
            model="tiny-llama", training_file=uploaded.id, method={"type": "reinforcement"}
        )
    assert "Reinforcement" in rft.value.body["message"]

    # A job with "auto" hyperparameters and a suffix, paused and resumed before a worker takes it.
    job = client.fine_tuning.jobs.create(
        model="tiny-llama",
        training_file=uploaded.id,
        suffix="qa",
        hyperparameters={"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"},
        metadata={"team": "search"},
        seed=7,
    )
    assert job.id.startswith("ftjob-") and job.status == "queued" and job.seed == 7
    assert all(isinstance(v, int | float) for v in job.hyperparameters.model_dump().values())
    assert client.fine_tuning.jobs.pause(job.id).status == "paused"
    assert client.fine_tuning.jobs.resume(job.id).status == "queued"
    # Both are in the organization's audit log, done by the API key (ids as the portal knows them).
    audited = AuditEntry.objects.filter(action__in=["job.create", "job.pause", "job.resume"])
    assert sorted(audited.values_list("action", flat=True)) == ["job.create", "job.pause", "job.resume"]
    assert {entry.actor for entry in audited} == {f"api-key:{api_key.prefix}"}
    with pytest.raises(openai.NotFoundError):
        outsider.fine_tuning.jobs.retrieve(job.id)
    workers.start("cpu")
    done = wait_job(client, job.id, {"succeeded", "failed"})
    assert done.status == "succeeded", done.error
    assert done.fine_tuned_model.startswith("ft:tiny-llama:") and ":qa:" in done.fine_tuned_model
    assert done.trained_tokens and done.trained_tokens > 0
    assert done.result_files and b"train_loss" in client.files.content(done.result_files[0]).content
    with pytest.raises(openai.ConflictError):
        client.fine_tuning.jobs.cancel(job.id)

    # Paging through jobs (and filtering by metadata) and events with ``after``, newest first.
    dpo = client.fine_tuning.jobs.create(
        model="tiny-llama",
        training_file=second.id,
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2, "n_epochs": 15, "batch_size": 1}}},
    )
    assert dpo.method.type == "dpo" and dpo.method.dpo.hyperparameters.beta == 0.2
    assert dpo.method.dpo.hyperparameters.n_epochs == 15
    jobs = client.fine_tuning.jobs.list(limit=1)
    assert [j.id for j in jobs.data] == [dpo.id] and jobs.has_more
    assert [j.id for j in client.fine_tuning.jobs.list(limit=1, after=dpo.id).data] == [job.id]
    assert [j.id for j in client.fine_tuning.jobs.list(metadata={"team": "search"}).data] == [job.id]
    events = client.fine_tuning.jobs.list_events(job.id, limit=3)
    assert len(events.data) == 3 and events.has_more
    older = client.fine_tuning.jobs.list_events(job.id, limit=3, after=events.data[-1].id)
    seqs = [int(e.id.rsplit("-", 1)[1]) for e in [*events.data, *older.data]]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 6
    assert any(e.type == "metrics" for e in client.fine_tuning.jobs.list_events(job.id, limit=1000).data)

    # Checkpoints, then the fine-tuned model and a checkpoint model answer at once, plain and streamed.
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert checkpoints and checkpoints[0].metrics.train_loss is not None
    checkpoint_model = checkpoints[-1].fine_tuned_model_checkpoint
    assert checkpoint_model.startswith(done.fine_tuned_model + ":ckpt-step-")
    listed = {m.id for m in client.models.list().data}
    assert {done.fine_tuned_model, checkpoint_model} <= listed
    plain, streamed = chat(client, done.fine_tuned_model)
    assert plain and plain == streamed
    plain, streamed = chat(client, checkpoint_model)
    assert plain == streamed
    with pytest.raises(openai.NotFoundError):
        chat(outsider, done.fine_tuned_model)

    # The DPO job, paused while it runs (after its first checkpoint): the device is freed, and resuming
    # continues from the checkpoint to the end.
    wait_for(
        lambda: client.fine_tuning.jobs.checkpoints.list(dpo.id).data, timeout=240, message="a checkpoint"
    )
    paused = client.fine_tuning.jobs.pause(dpo.id)
    assert paused.status == "paused"
    wait_for(lambda: not Device.objects.filter(leased_job__isnull=False).exists(), message="the device freed")
    kept = client.fine_tuning.jobs.checkpoints.list(dpo.id).data[0].step_number
    assert client.fine_tuning.jobs.resume(dpo.id).status == "queued"
    finished = wait_job(client, dpo.id, {"succeeded", "failed"})
    assert finished.status == "succeeded", finished.error
    steps = [
        e.data["step"]
        for e in client.fine_tuning.jobs.list_events(dpo.id, limit=1000).data
        if e.type == "metrics"
    ]
    assert steps == sorted(set(steps), reverse=True), "a step was recorded twice after the resume"
    assert steps[0] == 120 and kept < 120
