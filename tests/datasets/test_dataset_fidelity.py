"""Uploads keep everything the user sent (issue 13): each shape goes through the portal form and the API,
and what it carries shows in the normalised rows, the dataset's record and the job's training data."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from transformers import AutoTokenizer

from datasets_app.materialise import materialise_for_job
from datasets_app.models import Dataset
from tests.datasets.dataset_support import isolated_media, jsonl, upload  # noqa: F401
from tests.training.conftest import tiny_model, tiny_model_dir  # noqa: F401 - fixtures
from training_app import services
from training_app.models import TrainingJob
from training_app.trainer import data as trainer_data

pytestmark = pytest.mark.django_db

WEATHER = {"name": "get_weather", "description": "Weather of a city", "parameters": {"type": "object"}}
CLOCK = {"name": "get_time", "description": "Time in a city", "parameters": {"type": "object"}}


def tool_rows() -> list[dict]:
    """glaive-style sharegpt rows whose tools column (JSON text) is all that tells rows 0 and 1 apart."""
    return [
        {
            "conversations": [
                {"from": "human", "value": "What now in Paris?"},
                {
                    "from": "function_call",
                    "value": json.dumps({"name": tool["name"], "arguments": {"city": "Paris"}}),
                },
                {"from": "observation", "value": "21"},
                {"from": "gpt", "value": "It is 21 in Paris."},
            ],
            "tools": json.dumps([tool]),
        }
        for tool in (WEATHER, CLOCK, WEATHER)
    ]


def kto_rows(n: int = 8) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"Greet me, number {i}."},
                {"role": "assistant", "content": "Hello, friend." if i % 2 else "Go away."},
            ],
            "label": bool(i % 2),
        }
        for i in range(n)
    ]


def portal_upload(user, filename: str, content: bytes, **fields) -> Dataset:
    client = Client()
    client.force_login(user)
    data = {"file": SimpleUploadedFile(filename, content), "policy": "drop", "trim": "on", "drop_empty": "on"}
    data["dedupe"] = "on"
    data.update(fields)
    response = client.post(reverse("datasets:upload"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    dataset = Dataset.objects.latest("created_at")
    dataset.page = client.get(response["Location"]).content.decode()
    return dataset


def normalised(dataset: Dataset) -> list[dict]:
    with dataset.normalised_file.open("rb") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def job_data(org, user, tmp_path, base, dataset, *, stage="sft", placeholders=None) -> list[dict]:
    """Create the job through the API's service and materialise its training file as the runner would."""
    choice = services.DatasetChoice(dataset, placeholders=placeholders)
    job = services.create_job(
        org,
        user,
        name=f"job-{dataset.pk}",
        base_model=base,
        datasets=[choice],
        stage=stage,
        hyperparameters={"per_device_train_batch_size": 2},
    )
    data = materialise_for_job(job.job_datasets.all(), tmp_path / f"work-{job.pk}", seed=0)
    return trainer_data.read_jsonl(data.train_path)


def test_tools_are_kept_deduplicated_with_their_rows_previewed_and_rendered(
    alice,
    alice_api,
    org_a,
    tiny_model,  # noqa: F811 - the fixture
    tmp_path,
):
    dataset = portal_upload(alice, "glaive.jsonl", jsonl(tool_rows()))
    rows = normalised(dataset)
    assert (
        dataset.format == "sharegpt" and dataset.rows_in == 3 and dataset.num_rows == 2
    )  # only row 3 is a duplicate
    assert [row["tools"] for row in rows] == [[WEATHER], [CLOCK]]
    assert rows[0]["messages"][1]["role"] == "function_call" and rows[0]["messages"][2]["role"] == "tool"
    assert 'data-role="tools"' in dataset.page and "get_time" in dataset.page
    assert "1 of 3 rows read" in dataset.page  # de-duplication shown
    api = alice_api.get(f"/api/datasets/{dataset.pk}/preview/").json()
    assert api["results"][1]["tools"] == [CLOCK]

    train = job_data(org_a, alice, tmp_path, tiny_model, dataset)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model.path)
    for row in train:
        (pair,) = trainer_data.generation_pairs([row], tokenizer)
        assert json.dumps(row["tools"][0]) in pair["prompt"]  # the rendered prompt holds its definitions
        text = tokenizer.decode(trainer_data.encode_sft(row, tokenizer, 512)["input_ids"])
        assert row["tools"][0]["description"] in text


def test_unused_fields_are_listed_and_can_be_mapped_instead(alice, alice_api, org_a):
    rows = [{"instruction": f"q{i}", "output": "a", "label": True, "source": "web"} for i in range(5)]
    response = upload(alice_api, jsonl(rows), "labelled.jsonl")
    assert response.status_code == 201, response.json()
    assert response.json()["ignored_fields"] == {"label": 5, "source": 5}
    dataset = Dataset.objects.get(pk=response.json()["id"])
    client = Client()
    client.force_login(alice)
    page = client.get(reverse("datasets:detail", args=[dataset.pk])).content.decode()
    assert "ignored: label (5 rows)" in page and "ignored: source (5 rows)" in page
    bisheng = alice_api.post(
        "/api/v1/finetune/job/file", {"files": [SimpleUploadedFile("l.jsonl", jsonl(rows))]}
    )
    assert bisheng.json()["data"][0]["ignored_fields"] == {"label": 5, "source": 5}
    # Mapped, the field is used: "source" becomes the system prompt and is no longer ignored.
    response = upload(alice_api, jsonl(rows), "mapped.jsonl", mapping={"columns": {"system": "source"}})
    assert response.json()["ignored_fields"] == {"label": 5}
    assert normalised(Dataset.objects.get(pk=response.json()["id"]))[0]["system"] == "web"
    # De-duplication can be turned off.
    twice = jsonl(rows + rows)
    assert upload(alice_api, twice, "d.jsonl").json()["num_rows"] == 5
    off = upload(alice_api, twice, "d2.jsonl", dedupe="false").json()
    assert off["num_rows"] == 10 and off["duplicates_removed"] == 0


def test_kto_data_is_its_own_kind_never_sft(alice, alice_api, org_a, tiny_model, tmp_path):  # noqa: F811
    dataset = portal_upload(alice, "kto.jsonl", jsonl(kto_rows()))
    assert dataset.kind == "kto" and dataset.stats["labels"] == {"desirable": 4, "undesirable": 4}
    assert "undesirable answer (label false)" in dataset.page and 'data-testid="kto-labels"' in dataset.page
    body = {
        "name": "kto-as-sft",
        "base_model": tiny_model.name,
        "datasets": [{"dataset": str(dataset.pk)}],
        "devices": "cpu",
    }
    refused = alice_api.post("/api/jobs/", body, format="json")
    assert refused.status_code == 400
    assert "true/false labels, unpaired preferences: train it with the kto stage" in json.dumps(
        refused.json()
    )
    small = alice_api.post(
        "/api/jobs/",
        {**body, "name": "kto1", "stage": "kto", "hyperparameters": {"per_device_train_batch_size": 1}},
        format="json",
    )
    assert "per_device_train_batch_size" in small.json()["error"]["fields"]
    train = job_data(org_a, alice, tmp_path, tiny_model, dataset, stage="kto")
    assert {row["label"] for row in train} == {True, False}
    assert TrainingJob.objects.get(name=f"job-{dataset.pk}").stage == "kto"
    # TRL's unpaired shape: the undesirable answer is a completion with label false, never an SFT target.
    tokenizer = AutoTokenizer.from_pretrained(tiny_model.path)
    bad = next(row for row in train if not row["label"])
    assert trainer_data.encode_kto(bad, tokenizer)["label"] is False
    assert trainer_data.build_lm_examples([bad], tokenizer, stage="sft", max_seq_len=64) == []


def test_a_text_file_of_long_lines_gives_one_document_per_line(alice, alice_api):
    lines = "".join(f"Document {i}: " + "a long paragraph of running text " * 12 + "\n" for i in range(30))
    dataset = portal_upload(alice, "corpus.txt", lines.encode())
    assert dataset.num_rows == 30 and normalised(dataset)[29]["text"].startswith("Document 29:")
    assert "one document per line" in dataset.page and "chosen automatically" in dataset.page
    whole = upload(alice_api, lines.encode(), "corpus.txt", text_split="file").json()
    assert whole["num_rows"] == 1 and whole["options"]["text_split"] == "file"
    paragraphs = upload(alice_api, b"a\nb\n\nc\n", "p.txt").json()
    detail = alice_api.get(f"/api/datasets/{paragraphs['id']}/").json()
    assert paragraphs["num_rows"] == 2 and detail["stats"]["text_split"]["rule"] == "paragraph"


def test_alternating_turn_lists_upload_as_they_are(alice, alice_api):
    rows = [
        {"data": ["问：头痛怎么办？", "答：多休息。", "问：还有呢？", "答：多喝水。"]},
        {"data": ["User: Hi", "Assistant: Hello"]},
    ]
    dataset = portal_upload(alice, "huatuo.jsonl", jsonl(rows))
    assert dataset.format == "turns" and [m["content"] for m in normalised(dataset)[0]["messages"]] == [
        "头痛怎么办？",
        "多休息。",
        "还有呢？",
        "多喝水。",
    ]
    assert normalised(dataset)[1]["messages"][1] == {"role": "assistant", "content": "Hello"}
    other = [{"dialog": ["Human: Hi", "Assistant: Hello"], "id": 1}]
    response = upload(
        alice_api, jsonl(other), "d.jsonl", mapping={"columns": {"messages": "dialog"}, "formatting": "turns"}
    )
    assert response.status_code == 201 and response.json()["ignored_fields"] == {"id": 1}
    odd = upload(alice_api, jsonl([{"data": ["问：a", "答：b", "问：c"]}]), "odd.jsonl", policy="reject")
    assert odd.status_code == 400 and "must end with an assistant turn" in json.dumps(odd.json())


def test_an_uploaded_identity_file_is_filled_from_the_job_form(alice, org_a, tiny_model, tmp_path):  # noqa: F811
    rows = [
        {"instruction": "Who are you?", "output": "I am {{name}}, made by {{author}}."},
        {"instruction": "你是谁？", "output": "我是{{ name }}。"},
    ]
    dataset = portal_upload(alice, "my-identity.json", json.dumps(rows, ensure_ascii=False).encode())
    assert dataset.has_placeholders and dataset.stats["placeholders"] == ["author", "name"]
    with pytest.raises(Exception, match=r"contains placeholders: give the author \(\{\{author\}\}\)"):
        job_data(org_a, alice, tmp_path, tiny_model, dataset, placeholders={"name": "Forge"})
    client = Client()
    client.force_login(alice)
    form = client.post(
        reverse("training:new"),
        {
            "name": "identity-job",
            "base_model": tiny_model.pk,
            "stage": "sft",
            "method": "lora",
            "devices": "cpu",
            f"ds_{dataset.pk}_use": "on",
            "placeholder_name": "Forge",
            "seed": 42,
        },
    )
    page = form.content.decode()
    assert "my-identity contains placeholders: give the author" in page
    assert not TrainingJob.objects.filter(name="identity-job").exists()
    train = job_data(
        org_a, alice, tmp_path, tiny_model, dataset, placeholders={"name": "Forge", "author": "Acme"}
    )
    answers = sorted(row["messages"][-1]["content"] for row in train)
    assert answers == ["I am Forge, made by Acme.", "我是Forge。"]
