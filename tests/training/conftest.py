"""Training fixtures: the tiny model (built once under the test var dir) and ready-made datasets."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from datasets_app.models import Dataset, DatasetStatus
from training_app.trainer.tiny_model import build_tiny_model

QA = [
    ("What is the capital of France?", "Paris."),
    ("What colour is the sky?", "Blue."),
    ("How many legs does a spider have?", "Eight."),
    ("Who wrote Hamlet?", "Shakespeare."),
    ("What is 2 + 2?", "Four."),
    ("中国的首都是哪里？", "北京。"),
    ("What do bees make?", "Honey."),
    ("What is frozen water?", "Ice."),
]


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    return build_tiny_model(Path(settings.MODEL_ROOTS[0]) / "tiny-llama")


@pytest.fixture
def tiny_model(db, tiny_model_dir):
    from training_app.base_models import register_base_model

    return register_base_model("tiny-llama", path=str(tiny_model_dir))


def sft_rows(repeat: int = 4) -> list[dict]:
    return [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for _ in range(repeat)
        for q, a in QA
    ]


def make_dataset(org, rows: list[dict], *, name: str = "qa", kind: str = "sft") -> Dataset:
    body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    dataset = Dataset.objects.create(
        organization=org,
        name=name,
        original_filename=f"{name}.jsonl",
        format="openai",
        kind=kind,
        status=DatasetStatus.READY,
        num_rows=len(rows),
        rows_in=len(rows),
        size_bytes=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
    )
    dataset.normalised_file.name = default_storage.save(
        f"datasets/{org.id}/{dataset.uid}/normalised.jsonl", ContentFile(body)
    )
    dataset.save()
    return dataset


@pytest.fixture
def qa_dataset(org_a):
    return make_dataset(org_a, sft_rows())
