"""Helpers and fixtures of the dataset web-layer tests (import the fixtures you use into the test module).

``isolated_media`` (autouse where imported) gives each test its own storage directory, so a test can
assert with :func:`stored_files` that a refused upload left no stored file behind.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets_app.models import Dataset

ALPACA = [
    {"instruction": "Say hi", "input": "", "output": "Hi!"},
    {"instruction": "Add", "input": "2 + 2", "output": "4", "system": "Be brief."},
    {"instruction": "And now?", "output": "Still here.", "history": [["Are you there?", "Yes."]]},
]


def jsonl(rows) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data)


@pytest.fixture(autouse=True)
def isolated_media(settings, tmp_path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": "/media/"},
        },
    }
    return root


def stored_files() -> list[str]:
    """Every file in the (isolated) default storage, relative to it."""
    root = Path(default_storage.location)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def upload(client, content: bytes, filename: str = "data.jsonl", url: str = "/api/datasets/", **fields):
    """POST a multipart upload; ``fields`` are the other form fields (mapping as a dict is JSON-encoded)."""
    if isinstance(fields.get("mapping"), dict):
        fields["mapping"] = json.dumps(fields["mapping"])
    return client.post(url, {"file": SimpleUploadedFile(filename, content), **fields}, format="multipart")


def raw_multipart(field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    """A multipart body with the file name exactly as given (the test client would strip a path)."""
    boundary = "tuneforgeboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def make_ready(org, rows, *, name="ds", **kwargs) -> Dataset:
    """A ready dataset of ``org`` made through the real service (inline ingest)."""
    from datasets_app.services import create_dataset

    return create_dataset(org, None, SimpleUploadedFile(f"{name}.jsonl", jsonl(rows)), name=name, **kwargs)


def make_job(org, dataset, *, status="queued", model_root: Path, name="job1"):
    """A training job using ``dataset`` (its base model row points under ``model_root``)."""
    from training_app.models import BaseModel, JobDataset, TrainingJob

    base, _ = BaseModel.objects.get_or_create(name="tiny", defaults={"path": str(model_root / "tiny")})
    job = TrainingJob.objects.create(organization=org, name=name, base_model=base, status=status)
    JobDataset.objects.create(
        job=job, dataset=dataset, dataset_name=dataset.name, dataset_sha256=dataset.sha256
    )
    return job
