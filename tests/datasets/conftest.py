"""Fixtures for the ingest engine tests: write an upload, ingest it, read the canonical rows back.

This folder is the package ``tests.datasets``; it must stay inside the ``tests`` package, since a
top-level package named ``datasets`` would shadow the Hugging Face ``datasets`` library.
"""

import json

import pytest

from datasets_app.ingest import ingest


def jsonl(rows):
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


@pytest.fixture
def write(tmp_path):
    """write(name, content): content is bytes, text, or a list of rows (written as JSON lines)."""

    def write(name, content):
        path = tmp_path / name
        if isinstance(content, list):
            content = jsonl(content)
        if isinstance(content, str):
            content = content.encode("utf-8")
        path.write_bytes(content)
        return path

    return write


@pytest.fixture
def run(tmp_path, write):
    """run(content, name="data.jsonl", **ingest_kwargs) -> (IngestResult, canonical rows)."""

    def run(content, name="data.jsonl", **kwargs):
        src = write(name, content)
        out = tmp_path / "out.jsonl"
        result = ingest(src, out, filename=name, **kwargs)
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        return result, rows

    return run


@pytest.fixture
def messages():
    """messages(row) -> [(role, content), ...] of a canonical row, for compact assertions."""

    def messages(row):
        return [(m["role"], m["content"]) for m in row["messages"]]

    return messages
