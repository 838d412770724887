"""Job spec and hyperparameter validation: errors name the field, refusals explain themselves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from training_app.trainer.spec import HELP, Hyperparameters, JobSpec, environment_errors

OUT_OF_RANGE = [
    ("learning_rate", 0),
    ("learning_rate", 1.5),
    ("num_train_epochs", 0),
    ("max_steps", 0),
    ("per_device_train_batch_size", 0),
    ("gradient_accumulation_steps", 0),
    ("max_seq_len", 4),
    ("val_ratio", 1.0),
    ("val_ratio", -0.1),
    ("lr_scheduler_type", "exponential"),
    ("warmup_ratio", 1.0),
    ("weight_decay", -0.01),
    ("max_grad_norm", 0),
    ("logging_steps", 0),
    ("save_strategy", "sometimes"),
    ("save_steps", 0),
    ("eval_strategy", "always"),
    ("lora_rank", 0),
    ("lora_alpha", 0),
    ("lora_dropout", 1.0),
    ("lora_target", "q_proj; rm -rf"),
    ("freeze_trainable_layers", 0),
    ("freeze_trainable_modules", "mlp,,"),
    ("quantization_bit", 3),
    ("pref_beta", 0),
    ("eval_max_new_tokens", 0),
    ("max_eval_samples", 0),
    ("learning_rate", "fast"),
    ("packing", "maybe"),
]


@pytest.mark.parametrize(("name", "value"), OUT_OF_RANGE)
def test_out_of_range_hyperparameter_names_the_field(name, value):
    errors = Hyperparameters.from_dict({name: value}).validate()
    assert [field for field, _ in errors] == [name], errors


def test_defaults_are_valid_and_documented():
    hp = Hyperparameters()
    assert hp.validate() == []
    assert (hp.learning_rate, hp.num_train_epochs, hp.gradient_accumulation_steps, hp.lr_scheduler_type) == (
        5e-5,
        3.0,
        8,
        "cosine",
    )
    assert set(HELP) == set(hp.to_dict())


def test_form_strings_are_coerced_and_unknown_names_reported():
    hp = Hyperparameters.from_dict(
        {"learning_rate": "1e-4", "packing": "true", "max_steps": "10", "bogus": 1}
    )
    assert (hp.learning_rate, hp.packing, hp.max_steps) == (1e-4, True, 10)
    assert hp.validate() == [("bogus", "unknown hyperparameter")]


def test_bf16_and_fp16_together_are_refused():
    assert ("fp16", "bf16 and fp16 cannot both be on; pick one") in Hyperparameters(
        bf16=True, fp16=True
    ).validate()


def test_quantization_only_with_qlora():
    hp = Hyperparameters(quantization_bit=4)
    assert [f for f, _ in hp.validate("lora")] == ["quantization_bit"]
    assert hp.validate("qlora") == []


def test_qlora_without_cuda_is_refused_clearly():
    errors = environment_errors(
        Hyperparameters(), "qlora", cuda_available=False, bitsandbytes_available=False
    )
    assert errors == [("method", "QLoRA needs a CUDA GPU and bitsandbytes; this machine has neither")]
    errors = environment_errors(Hyperparameters(), "qlora", cuda_available=True, bitsandbytes_available=False)
    assert "bitsandbytes" in errors[0][1]
    assert (
        environment_errors(Hyperparameters(), "qlora", cuda_available=True, bitsandbytes_available=True) == []
    )


def test_mixed_precision_on_cpu_is_refused():
    errors = environment_errors(
        Hyperparameters(bf16=True), "lora", cuda_available=False, bitsandbytes_available=False
    )
    assert [f for f, _ in errors] == ["bf16"]
    errors = environment_errors(
        Hyperparameters(fp16=True),
        "full",
        cuda_available=True,
        bitsandbytes_available=False,
        bf16_supported=True,
    )
    assert errors == []


def test_job_spec_round_trips_and_checks_itself(tmp_path):
    spec = JobSpec.from_dict(
        {
            "model_path": "/models/m",
            "output_dir": str(tmp_path / "out"),
            "train_files": ["a.jsonl"],
            "stage": "dpo",
            "method": "lora",
            "hyperparameters": {"learning_rate": 1e-4, "pref_beta": 0.2},
            "chat_template": "qwen",
            "devices": {"gpu_ids": [0]},
        }
    )
    assert JobSpec.load(spec.save(tmp_path / "spec.json")) == spec
    assert spec.validate() == []

    bad = JobSpec(
        model_path="m", output_dir="o", train_files=[], stage="rlhf", method="magic", chat_template="nope"
    )
    bad.hyperparameters.eval_strategy = "steps"
    fields = {f for f, _ in bad.validate()}
    assert {"stage", "method", "train_files", "chat_template", "eval_strategy"} <= fields
    with pytest.raises(ValueError, match="Unknown job spec fields: colour"):
        JobSpec.from_dict({"model_path": "m", "output_dir": "o", "train_files": [], "colour": "red"})


def test_spec_module_does_not_import_torch():
    # The Django web process imports spec.py for validation; it must not pay for torch.
    code = "import sys, training_app.trainer.spec; assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
