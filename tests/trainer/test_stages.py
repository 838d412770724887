"""Continued pre-training, DPO, held-out evaluation and resuming from a checkpoint."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from transformers import AutoModelForCausalLM


def test_pretraining_loss_goes_down(tiny_model, tmp_path, write_jsonl, make_spec, run_spec):
    texts = [{"text": f"The scheduler runs job {i} on the server. 服务器运行任务{i}。"} for i in range(30)]
    spec = make_spec(
        tiny_model,
        tmp_path / "out",
        write_jsonl(tmp_path / "pt.jsonl", texts),
        stage="pt",
        method="lora",
        hyperparameters={"max_steps": 12, "max_seq_len": 48},
    )
    run = run_spec(spec)
    assert run.losses[-1] < run.losses[0] - 0.5, run.losses
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()


def test_dpo_prefers_chosen_answers(tiny_model, tmp_path, write_jsonl, make_spec, run_spec):
    rows = [
        {
            "system": "Be kind.",
            "messages": [{"role": "user", "content": f"Say something nice, number {i}."}],
            "chosen": "You are great.",
            "rejected": "Go away now.",
        }
        for i in range(12)
    ]
    spec = make_spec(
        tiny_model,
        tmp_path / "out",
        write_jsonl(tmp_path / "pref.jsonl", rows),
        stage="dpo",
        method="lora",
        hyperparameters={"max_steps": 8, "learning_rate": 5e-3, "pref_beta": 0.1},
    )
    run = run_spec(spec)
    metrics = [e for e in run.of_type("metric") if e.get("loss") is not None]
    margins = [e["extra"]["rewards/margins"] for e in metrics]
    assert metrics[-1]["loss"] < metrics[0]["loss"] < 0.7  # sigmoid DPO loss starts at ln 2
    assert margins[-1] > margins[0] and margins[-1] > 0, margins
    assert (tmp_path / "out" / "adapter_config.json").is_file()
    assert not (tmp_path / "out" / "ref").exists()  # only the trained adapter is exported


def test_full_dpo_saves_loadable_weights(tiny_model, tmp_path, write_jsonl, make_spec, run_spec):
    rows = [
        {"messages": [{"role": "user", "content": f"Hi {i}"}], "chosen": "Hello.", "rejected": "No."}
        for i in range(8)
    ]
    spec = make_spec(
        tiny_model,
        tmp_path / "out",
        write_jsonl(tmp_path / "pref.jsonl", rows),
        stage="dpo",
        method="full",
        hyperparameters={"max_steps": 4, "learning_rate": 1e-3},
    )
    run = run_spec(spec)
    assert run.losses[-1] < run.losses[0]
    AutoModelForCausalLM.from_pretrained(tmp_path / "out")


def test_held_out_split_is_evaluated_and_reported(
    tiny_model, tmp_path, qa_rows, write_jsonl, make_spec, run_spec
):
    spec = make_spec(
        tiny_model,
        tmp_path / "out",
        write_jsonl(tmp_path / "qa.jsonl", qa_rows),
        method="lora",
        hyperparameters={
            "max_steps": 6,
            "val_ratio": 0.2,
            "eval_strategy": "steps",
            "eval_steps": 3,
            "do_eval_generation": True,
            "eval_max_new_tokens": 8,
        },
    )
    run = run_spec(spec)
    eval_metrics = [e for e in run.of_type("metric") if e.get("eval_loss") is not None]
    assert [e["step"] for e in eval_metrics] == [3, 6]
    (report,) = [e["report"] for e in run.of_type("eval")]
    for key in (
        "eval_loss",
        "perplexity",
        "bleu_4",
        "rouge_1",
        "rouge_2",
        "rouge_l",
        "exact_match",
        "predict_bleu-4",
        "predict_rouge-1",
        "predict_rouge-2",
        "predict_rouge-l",
    ):
        assert isinstance(report[key], float), key
    assert report["num_generated"] == 4 and len(report["samples"]) == 4
    assert {"prompt", "reference", "prediction"} == set(report["samples"][0])
    saved = json.loads((tmp_path / "out" / "eval_report.json").read_text())
    assert saved == report
    trainer_report = json.loads((tmp_path / "out" / "trainer_report.json").read_text())
    assert (trainer_report["train_rows"], trainer_report["eval_rows"]) == (16, 4)


def test_resume_continues_step_numbers(tiny_model, tmp_path, qa_rows, write_jsonl, make_spec, run_spec):
    train_file = write_jsonl(tmp_path / "qa.jsonl", qa_rows)
    hp = {"max_steps": 4, "logging_steps": 1, "save_strategy": "steps", "save_steps": 2}
    first = run_spec(make_spec(tiny_model, tmp_path / "out", train_file, method="lora", hyperparameters=hp))
    assert [e["step"] for e in first.of_type("checkpoint")] == [2, 4]

    # The job is resubmitted with a longer budget and picks up from its newest checkpoint.
    hp["max_steps"] = 8
    second = run_spec(
        make_spec(
            tiny_model,
            tmp_path / "out",
            train_file,
            method="lora",
            hyperparameters=hp,
            resume_from_checkpoint="latest",
        )
    )
    first_steps = [e["step"] for e in first.of_type("metric")]
    second_steps = [e["step"] for e in second.of_type("metric")]
    assert first_steps == [1, 2, 3, 4]
    assert second_steps == [5, 6, 7, 8]
    assert second.report["resumed_from"].endswith("checkpoint-4")
    assert second.report["global_step"] == 8
    assert [e["step"] for e in second.of_type("checkpoint")] == [6, 8]


def test_resuming_from_the_last_steps_checkpoint_trains_no_step_more(
    tiny_model, tmp_path, qa_rows, write_jsonl, make_spec, run_spec
):
    from safetensors.torch import load_file

    train_file = write_jsonl(tmp_path / "qa.jsonl", qa_rows)
    hp = {"max_steps": 4, "logging_steps": 1, "save_strategy": "steps", "save_steps": 2}
    spec = make_spec(tiny_model, tmp_path / "out", train_file, method="lora", hyperparameters=hp)
    run_spec(spec)
    final = load_file(tmp_path / "out" / "checkpoint-4" / "adapter_model.safetensors")

    # The worker died after the last checkpoint, before the job was recorded as done: it runs again.
    again = run_spec(dataclasses.replace(spec, resume_from_checkpoint="latest"))
    assert again.of_type("metric") == [] and again.of_type("checkpoint") == []
    assert again.report["global_step"] == 4 and again.report["resumed_from"].endswith("checkpoint-4")
    assert not (tmp_path / "out" / "checkpoint-5").exists()
    saved = load_file(tmp_path / "out" / "adapter_model.safetensors")
    assert saved.keys() == final.keys()
    assert all(torch.equal(saved[name], final[name]) for name in final), (
        "the checkpoint's weights are the output"
    )


def test_bad_dataset_file_is_reported_with_its_line(tiny_model, tmp_path, make_spec):
    from training_app.trainer.data import DatasetError
    from training_app.trainer.train import run_job

    broken = tmp_path / "broken.jsonl"
    broken.write_text(
        '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}\n'
        '{"messages": [}\n',
        encoding="utf-8",
    )
    with pytest.raises(DatasetError, match=r"broken.jsonl, line 2: not valid JSON"):
        run_job(make_spec(tiny_model, tmp_path / "out", broken))
