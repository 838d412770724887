"""Real fine-tuning on the tiny model, one test per method that runs on a CPU."""

from __future__ import annotations

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from training_app.trainer.evaluate import evaluate_model
from training_app.trainer.export import merge_adapter


def generate(model, tokenizer, question: str) -> str:
    prompt = tokenizer.apply_chat_template(
        [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": question}],
        tokenize=False,
        add_generation_prompt=True,
    )
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    # Special tokens stay: a briefly trained model may answer with just the end-of-turn token.
    return tokenizer.decode(out[0, ids["input_ids"].shape[1] :])


@pytest.fixture(scope="module")
def lora_run(tiny_model, tmp_path_factory, qa_rows, write_jsonl, make_spec):
    """One LoRA run shared by the LoRA, base-comparison and export tests."""
    from training_app.trainer.train import run_job

    tmp = tmp_path_factory.mktemp("lora")
    spec = make_spec(
        tiny_model,
        tmp / "out",
        write_jsonl(tmp / "qa.jsonl", qa_rows),
        method="lora",
        hyperparameters={"max_steps": 30, "per_device_train_batch_size": 20},
    )
    run_job(spec)
    return spec


@pytest.mark.parametrize(
    ("method", "extra"),
    [
        ("full", {}),
        ("freeze", {"freeze_trainable_layers": 1}),
        ("freeze", {"freeze_trainable_layers": -1, "freeze_trainable_modules": "mlp"}),
        ("lora", {"lora_target": "q_proj,v_proj"}),
        ("lora", {"use_dora": True}),
    ],
)
def test_sft_method_learns_and_artifact_generates(
    method, extra, tiny_model, tmp_path, qa_rows, write_jsonl, make_spec, run_spec
):
    spec = make_spec(
        tiny_model,
        tmp_path / "out",
        write_jsonl(tmp_path / "qa.jsonl", qa_rows),
        method=method,
        hyperparameters={"max_steps": 12, **extra},
    )
    run = run_spec(spec)

    losses = run.losses
    assert len(losses) == 6 and losses[-1] < losses[0] - 0.5, losses
    out = tmp_path / "out"
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template  # serving renders prompts exactly as training did
    if method == "lora":
        assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), out)
        assert model.peft_config["default"].use_dora is bool(extra.get("use_dora"))
    else:
        model = AutoModelForCausalLM.from_pretrained(out)
        assert not (out / "adapter_config.json").exists()
    assert generate(model, tokenizer, "What is the capital of France?")
    assert run.report["trainable_parameters"] < run.report["total_parameters"] or method == "full"


def test_freeze_trains_only_the_chosen_layers(
    tiny_model, tmp_path, qa_rows, write_jsonl, make_spec, run_spec
):
    spec = make_spec(
        tiny_model,
        tmp_path / "out",
        write_jsonl(tmp_path / "qa.jsonl", qa_rows),
        method="freeze",
        hyperparameters={"max_steps": 2, "freeze_trainable_layers": 1, "freeze_trainable_modules": "mlp"},
    )
    run_spec(spec)
    base = AutoModelForCausalLM.from_pretrained(tiny_model).state_dict()
    tuned = AutoModelForCausalLM.from_pretrained(tmp_path / "out").state_dict()
    changed = {name for name in base if not torch.equal(base[name], tuned[name])}
    assert changed and all(name.startswith("model.layers.1.mlp.") for name in changed), changed


def test_full_fine_tune_memorises_what_the_base_model_cannot(
    tiny_model, tmp_path, qa_rows, write_jsonl, make_spec, run_spec
):
    spec = make_spec(
        tiny_model,
        tmp_path / "out",
        write_jsonl(tmp_path / "qa.jsonl", qa_rows),
        method="full",
        hyperparameters={"max_steps": 60, "per_device_train_batch_size": 20, "logging_steps": 10},
    )
    run_spec(spec)

    base = evaluate_model(str(tiny_model), None, qa_rows, max_seq_len=64, max_new_tokens=12)
    tuned = evaluate_model(str(tmp_path / "out"), None, qa_rows, max_seq_len=64, max_new_tokens=12)
    assert base["exact_match"] == 0
    assert tuned["exact_match"] == 100, tuned["samples"]
    # BLEU-4 of a 2-3 character answer stays below 100 even when identical (no 4-grams to match).
    assert tuned["rouge_l"] == 100 and tuned["bleu_4"] > 90
    assert tuned["eval_loss"] < 0.1 < base["eval_loss"]


def test_lora_loss_ends_well_below_the_base_model(lora_run, tiny_model, qa_rows):
    base = evaluate_model(str(tiny_model), None, qa_rows, max_seq_len=64, do_generation=False)
    tuned = evaluate_model(str(tiny_model), lora_run.output_dir, qa_rows, max_seq_len=64, do_generation=False)
    assert tuned["eval_loss"] < base["eval_loss"] / 3, (base["eval_loss"], tuned["eval_loss"])
    assert tuned["perplexity"] < base["perplexity"]


def test_merged_adapter_matches_base_plus_adapter(lora_run, tiny_model, tmp_path):
    merged_dir = merge_adapter(lora_run.output_dir, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    with_adapter = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model), lora_run.output_dir
    )
    ids = torch.tensor([[2, 316, 203, 419, 418, 362]])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, with_adapter(ids).logits, atol=1e-4, rtol=1e-4)
    assert AutoTokenizer.from_pretrained(merged_dir).chat_template
