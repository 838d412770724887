"""The trainer as the runner sees it: a subprocess writing JSON lines, ending in done or error."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from training_app.trainer.events import EventEmitter

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "training_app.trainer", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )


def test_cli_emits_json_lines_through_to_done(tiny_model, tmp_path, qa_rows, write_jsonl, make_spec):
    spec = make_spec(
        tiny_model,
        tmp_path / "out",
        write_jsonl(tmp_path / "qa.jsonl", qa_rows),
        method="lora",
        hyperparameters={"max_steps": 4, "save_strategy": "steps", "save_steps": 2},
    )
    result = run_cli(str(spec.save(tmp_path / "spec.json")))

    assert result.returncode == 0, result.stderr[-3000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]  # every stdout line is an event
    assert all(isinstance(e["ts"], float) for e in events)
    types = [e["type"] for e in events]
    assert {"log", "metric", "progress", "checkpoint"} <= set(types)
    assert types[-1] == "done"
    metric = next(e for e in events if e["type"] == "metric")
    assert metric["step"] == 2 and metric["loss"] > 0 and metric["tokens_per_second"] > 0
    assert metric["learning_rate"] == 3e-3 and metric["grad_norm"] > 0
    progress = [e for e in events if e["type"] == "progress"]
    assert progress[-1]["step"] == progress[-1]["total_steps"] == 4
    checkpoint = next(e for e in events if e["type"] == "checkpoint")
    assert Path(checkpoint["path"]).is_dir() and checkpoint["step"] == 2
    assert events[-1]["output_dir"] == str(tmp_path / "out")


def test_missing_model_ends_with_error_event_and_exit_1(tmp_path, qa_rows, write_jsonl, make_spec):
    spec = make_spec(
        tmp_path / "no-such-model", tmp_path / "out", write_jsonl(tmp_path / "qa.jsonl", qa_rows)
    )
    events_file = tmp_path / "events.jsonl"
    result = run_cli(str(spec.save(tmp_path / "spec.json")), "--events", str(events_file))

    assert result.returncode == 1
    last = json.loads(events_file.read_text().splitlines()[-1])
    assert last["type"] == "error"
    assert "no-such-model" in last["reason"] and "not found" in last["reason"]


def test_unreadable_spec_is_an_error_event(tmp_path):
    bad = tmp_path / "spec.json"
    bad.write_text("{", encoding="utf-8")
    result = run_cli(str(bad))
    assert result.returncode == 1
    (event,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert event["type"] == "error" and "Cannot read the job spec" in event["reason"]


def test_emitter_writes_valid_json_even_for_nan():
    stream = io.StringIO()
    emitter = EventEmitter(stream, enabled=True)
    emitter.emit("metric", step=3, loss=float("nan"), eval_loss=float("inf"))
    EventEmitter(stream, enabled=False).log("from rank 1")  # other ranks stay silent
    (line,) = stream.getvalue().splitlines()
    event = json.loads(line)
    assert (event["type"], event["step"], event["loss"], event["eval_loss"]) == ("metric", 3, None, None)


def test_torchrun_job_writes_one_event_stream(tiny_model, tmp_path, qa_rows, write_jsonl, make_spec):
    spec = make_spec(
        tiny_model,
        tmp_path / "out",
        write_jsonl(tmp_path / "qa.jsonl", qa_rows),
        method="lora",
        hyperparameters={"max_steps": 2, "logging_steps": 1},
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    result = subprocess.run(
        [*torchrun, "-m", "training_app.trainer", str(spec.save(tmp_path / "spec.json"))],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]
    # Two ranks train, but only rank 0 reports: each step once, one done.
    assert [e["step"] for e in events if e["type"] == "metric"] == [1, 2]
    assert [e["type"] for e in events].count("done") == 1
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()
