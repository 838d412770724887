"""Fixtures for the trainer engine tests: one tiny model per session, small canonical datasets."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from training_app.trainer.events import EventEmitter
from training_app.trainer.spec import JobSpec
from training_app.trainer.tiny_model import build_tiny_model

QA_PAIRS = [
    ("What is the capital of France?", "Paris."),
    ("How many days are in a week?", "Seven."),
    ("What color is the sky?", "Blue."),
    ("Who wrote Hamlet?", "Shakespeare."),
    ("What is two plus two?", "Four."),
    ("Name a fruit.", "An apple."),
    ("中国的首都是哪里？", "北京。"),
    ("一周有几天？", "七天。"),
    ("天空是什么颜色？", "蓝色。"),
    ("一加一等于几？", "二。"),
    ("What does the model do?", "The model learns."),
    ("Who answers the question?", "A student answers."),
    ("What does the server save?", "Every checkpoint."),
    ("What is the learning rate?", "A small number."),
    ("Where is the report?", "On the platform."),
    ("我们训练什么？", "我们训练模型。"),
    ("老师在做什么？", "老师在阅读。"),
    ("今天的天气怎么样？", "今天的天气很好。"),
    ("What does the team write?", "A JSON file."),
    ("What is ten minus three?", "Seven."),
]


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """The CI machine has two cores shared with other jobs; one thread avoids OpenMP oversubscription."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama")


def _qa_rows(system: str | None = "Answer briefly.") -> list[dict[str, Any]]:
    rows = []
    for question, answer in QA_PAIRS:
        row: dict[str, Any] = {
            "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        }
        if system:
            row["system"] = system
        rows.append(row)
    return rows


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _make_spec(model: Path, out: Path, train_file: Path, **fields: Any) -> JobSpec:
    """A spec with small, fast defaults; ``hyperparameters`` in ``fields`` override those defaults."""
    hp = {
        "learning_rate": 3e-3,
        "max_steps": 20,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 1,
        "logging_steps": 2,
        "save_strategy": "no",
        "max_seq_len": 64,
        "lr_scheduler_type": "constant",
        "do_eval_generation": False,
    }
    hp.update(fields.pop("hyperparameters", {}))
    data = {
        "model_path": str(model),
        "output_dir": str(out),
        "train_files": [str(train_file)],
        "stage": "sft",
        "method": "full",
        "seed": 0,
        "hyperparameters": hp,
    }
    data.update(fields)
    return JobSpec.from_dict(data)


class Run:
    def __init__(self, report: dict[str, Any], events: list[dict[str, Any]]):
        self.report = report
        self.events = events

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    @property
    def losses(self) -> list[float]:
        return [e["loss"] for e in self.of_type("metric") if e.get("loss") is not None]


@pytest.fixture
def run_spec() -> Callable[[JobSpec], Run]:
    """Run a spec in this process (imports once, so tests stay fast) and parse its event stream."""
    from training_app.trainer.train import run_job

    def run(spec: JobSpec) -> Run:
        stream = io.StringIO()
        report = run_job(spec, EventEmitter(stream, enabled=True))
        return Run(report, [json.loads(line) for line in stream.getvalue().splitlines()])

    return run


# Helpers are handed out as (session) fixtures, so test modules never import conftest by name.
@pytest.fixture(scope="session")
def qa_rows() -> list[dict[str, Any]]:
    return _qa_rows()


@pytest.fixture(scope="session")
def write_jsonl() -> Callable[[Path, list[dict[str, Any]]], Path]:
    return _write_jsonl


@pytest.fixture(scope="session")
def make_spec() -> Callable[..., JobSpec]:
    return _make_spec
