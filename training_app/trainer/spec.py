"""The job spec: everything one training run needs, as JSON.

The Django side imports this module to validate requests before a job is queued, so it must stay
import-light: no torch, no transformers at module level.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training_app.trainer.limits import BOUNDS, MAX_TEXT_LENGTH, bound_errors

STAGES = ("sft", "pt", "dpo", "kto")
METHODS = ("full", "freeze", "lora", "qlora")
LR_SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "polynomial", "cosine_with_restarts")
SAVE_STRATEGIES = ("steps", "epoch", "no")
SAVE_TOTAL_LIMIT = 3  # checkpoints a run keeps on disk, the newest ones
EVAL_STRATEGIES = ("no", "steps", "epoch")
_MODULE_LIST = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*(\s*,\s*[A-Za-z_][A-Za-z0-9_.]*)*$")

Errors = list[tuple[str, str]]

# One line per field; the portal shows it next to the input, the API in its description. The allowed
# range is appended from limits.BOUNDS.
_DESCRIPTIONS: dict[str, str] = {
    "learning_rate": "Peak learning rate of AdamW (LoRA often 1e-4, full fine-tuning 1e-5).",
    "num_train_epochs": "How many passes over the training data; may be fractional.",
    "max_steps": "Stop after this many optimizer steps; -1 means use num_train_epochs instead.",
    "per_device_train_batch_size": "Examples per GPU per forward pass; lower it if you run out of memory.",
    "gradient_accumulation_steps": "Forward passes summed into one optimizer step (effective batch multiplier).",
    "max_seq_len": "Token length at which examples are truncated (or packed blocks are cut).",
    "val_ratio": "Share of the data held out for evaluation; 0 holds none. Left out, a job holds out a tenth "
    "(at most 200 rows) while do_eval_generation is on.",
    "lr_scheduler_type": "How the learning rate changes over training: " + ", ".join(LR_SCHEDULERS) + ".",
    "warmup_ratio": "Share of steps over which the learning rate rises linearly from 0.",
    "weight_decay": "AdamW weight decay; 0 disables it.",
    "max_grad_norm": "Gradients are clipped to this global norm.",
    "logging_steps": "Report loss and learning rate every this many steps.",
    "save_strategy": "When to write resumable checkpoints: every save_steps ('steps'), each 'epoch', or 'no'.",
    "save_steps": "Checkpoint interval in optimizer steps when save_strategy is 'steps'.",
    "eval_strategy": "When to compute the held-out loss during training: 'no', every eval_steps, or each 'epoch'.",
    "eval_steps": "Evaluation interval in optimizer steps when eval_strategy is 'steps'.",
    "packing": "Concatenate short examples into full max_seq_len blocks: faster, same loss masking.",
    "train_on_prompt": "Also learn to predict system/user/tool tokens, not only the assistant's replies.",
    "bf16": "Train in bfloat16 mixed precision (Ampere or newer GPU).",
    "fp16": "Train in float16 mixed precision (older GPUs); cannot be combined with bf16.",
    "cpu_load": "Run on the CPU even when a GPU is visible (slow; for smoke tests and tiny models).",
    "lora_rank": "LoRA rank r: size of the low-rank update; 8-64 is typical.",
    "lora_alpha": "LoRA scaling numerator; the update is scaled by lora_alpha / lora_rank.",
    "lora_dropout": "Dropout on the LoRA input.",
    "lora_target": "Modules that get LoRA: 'all' (every linear layer but lm_head) or names, e.g. q_proj,v_proj.",
    "use_dora": "Use DoRA (weight-decomposed LoRA): often better quality, a little slower.",
    "freeze_trainable_layers": "Freeze tuning: train the last N decoder layers (N > 0) or the first -N (N < 0).",
    "freeze_trainable_modules": "Freeze tuning: modules trained inside those layers, 'all' or names like mlp.",
    "quantization_bit": "QLoRA: load the base model in 4 or 8 bits (needs a CUDA GPU and bitsandbytes).",
    "pref_beta": "DPO beta: higher keeps the model closer to the reference model.",
    "do_eval_generation": "After training, generate answers for held-out prompts and score BLEU/ROUGE.",
    "eval_base_model": "Also score the base model on the same held-out rows, to compare it with the tuned one.",
    "eval_max_new_tokens": "Longest answer generated per held-out prompt during evaluation.",
    "max_eval_samples": "At most this many held-out examples are used for generation metrics.",
}


def _with_range(name: str, text: str) -> str:
    if name in ("lora_target", "freeze_trainable_modules"):
        return f"{text} At most {MAX_TEXT_LENGTH} characters."
    bound = BOUNDS.get(name)
    if bound is None:
        return text
    words = bound.words()
    if name == "max_steps":
        words = f"-1, or {words}"
    elif name == "freeze_trainable_layers":
        words += ", not 0"
    return f"{text} Allowed: {words}."


HELP: dict[str, str] = {name: _with_range(name, text) for name, text in _DESCRIPTIONS.items()}


@dataclass
class Hyperparameters:
    """Training hyperparameters with LLaMA-Factory's (web UI) defaults."""

    learning_rate: float = 5e-5
    num_train_epochs: float = 3.0
    max_steps: int = -1
    per_device_train_batch_size: int = 2
    gradient_accumulation_steps: int = 8
    max_seq_len: int = 1024
    val_ratio: float = 0.0
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    logging_steps: int = 5
    save_strategy: str = "steps"
    save_steps: int = 100
    eval_strategy: str = "no"
    eval_steps: int = 100
    packing: bool = False
    train_on_prompt: bool = False
    bf16: bool = False
    fp16: bool = False
    cpu_load: bool = False
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_target: str = "all"
    use_dora: bool = False
    freeze_trainable_layers: int = 2
    freeze_trainable_modules: str = "all"
    quantization_bit: int | None = None
    pref_beta: float = 0.1
    do_eval_generation: bool = True
    eval_base_model: bool = True
    eval_max_new_tokens: int = 64
    max_eval_samples: int = 50
    # Problems met while reading raw input (unknown names, wrong types); reported by validate().
    parse_errors: Errors = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Hyperparameters:
        """Build from user input, coercing strings from forms ("5e-5", "true"); never raises."""
        hp = cls()
        types = {f.name: f.type for f in dataclasses.fields(cls) if f.name != "parse_errors"}
        for name, raw in (data or {}).items():
            if name not in types:
                hp.parse_errors.append((name, "unknown hyperparameter"))
                continue
            try:
                setattr(hp, name, _coerce(raw, types[name]))
            except (TypeError, ValueError, OverflowError):
                hp.parse_errors.append((name, f"expected {_type_word(types[name])}, got {raw!r}"))
        return hp

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "parse_errors"}

    def validate(self, method: str | None = None) -> Errors:
        """Return ``(field, message)`` for every out-of-range value; empty means valid."""
        errors: Errors = list(self.parse_errors)
        bad = {name for name, _ in errors}

        def check(name: str, ok: bool, message: str) -> None:
            if name not in bad and not ok:
                errors.append((name, message))

        # Numeric ranges come from the one table (limits.BOUNDS); the rest are choices and shapes.
        for name, message in bound_errors(self.to_dict(), bad):
            errors.append((name, message))
            bad.add(name)
        check(
            "lr_scheduler_type",
            self.lr_scheduler_type in LR_SCHEDULERS,
            "must be one of " + ", ".join(LR_SCHEDULERS),
        )
        check(
            "save_strategy",
            self.save_strategy in SAVE_STRATEGIES,
            "must be one of " + ", ".join(SAVE_STRATEGIES),
        )
        check(
            "eval_strategy",
            self.eval_strategy in EVAL_STRATEGIES,
            "must be one of " + ", ".join(EVAL_STRATEGIES),
        )
        check("fp16", not (self.bf16 and self.fp16), "bf16 and fp16 cannot both be on; pick one")
        for name in ("lora_target", "freeze_trainable_modules"):
            check(
                name,
                _is_module_list(getattr(self, name)),
                "must be 'all' or comma-separated module names (at most 500 characters)",
            )
        check(
            "freeze_trainable_layers",
            self.freeze_trainable_layers != 0,
            "must not be 0 (N > 0: last N layers)",
        )
        check("quantization_bit", self.quantization_bit in (None, 4, 8), "must be empty, 4 or 8")
        if method is not None and method != "qlora":
            check(
                "quantization_bit",
                self.quantization_bit is None,
                "only QLoRA quantizes; clear it or use qlora",
            )
        return errors


def format_errors(errors: Errors) -> str:
    """One line for an error event or a log: "field: message; field: message"."""
    return "; ".join(f"{name}: {message}" for name, message in errors)


def environment_errors(
    hp: Hyperparameters,
    method: str,
    cuda_available: bool,
    bitsandbytes_available: bool,
    bf16_supported: bool | None = None,
) -> Errors:
    """Refusals for settings this machine cannot run, phrased for the person who asked for them."""
    errors: Errors = []
    on_gpu = cuda_available and not hp.cpu_load
    if method == "qlora":
        if not cuda_available and not bitsandbytes_available:
            errors.append(("method", "QLoRA needs a CUDA GPU and bitsandbytes; this machine has neither"))
        elif not cuda_available:
            errors.append(("method", "QLoRA needs a CUDA GPU; this machine has none"))
        elif not bitsandbytes_available:
            errors.append(
                ("method", "QLoRA needs bitsandbytes; install the 'gpu' extra (pip install .[gpu])")
            )
        elif hp.cpu_load:
            errors.append(("cpu_load", "QLoRA cannot run on the CPU; turn cpu_load off"))
    if hp.bf16 and not on_gpu:
        errors.append(("bf16", "bf16 mixed precision needs a CUDA GPU; turn it off to train on the CPU"))
    elif hp.bf16 and bf16_supported is False:
        errors.append(("bf16", "this GPU does not support bf16; use fp16 instead"))
    if hp.fp16 and not on_gpu:
        errors.append(("fp16", "fp16 mixed precision needs a CUDA GPU; turn it off to train on the CPU"))
    return errors


@dataclass
class JobSpec:
    """One training run. Paths are local to the machine that runs the trainer."""

    model_path: str
    output_dir: str
    train_files: list[str]
    stage: str = "sft"
    method: str = "lora"
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    eval_files: list[str] = field(default_factory=list)
    # A checkpoint directory, "latest" (newest checkpoint in output_dir, if any) or None.
    resume_from_checkpoint: str | None = None
    seed: int = 42
    chat_template: str | None = None
    trust_remote_code: bool = False
    # What the scheduler placed the job on, e.g. {"gpu_ids": [0, 1]}; recorded in the report.
    devices: dict[str, Any] = field(default_factory=dict)
    # How the report names the base model (the platform's name: users never see its directory).
    model_name: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown job spec fields: {', '.join(unknown)}")
        missing = [name for name in ("model_path", "output_dir", "train_files") if name not in data]
        if missing:
            raise ValueError(f"Job spec is missing: {', '.join(missing)}")
        values = dict(data)
        values["hyperparameters"] = Hyperparameters.from_dict(data.get("hyperparameters"))
        values["train_files"] = [str(p) for p in data["train_files"]]
        values["eval_files"] = [str(p) for p in data.get("eval_files") or []]
        values["devices"] = dict(data.get("devices") or {})
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: str | Path) -> JobSpec:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["hyperparameters"] = self.hyperparameters.to_dict()
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    def input_errors(self) -> Errors:
        """Inputs missing on this machine: a local model directory without config.json, absent data files.

        A model_path that is not absolute and does not exist is taken for a hub id (checked by the trainer
        against the local Hugging Face cache)."""
        errors: Errors = []
        path = Path(self.model_path).expanduser()
        looks_local = path.is_absolute() or self.model_path.startswith((".", "~")) or path.exists()
        if looks_local and not (path / "config.json").is_file():
            errors.append(
                (
                    "model_path",
                    f"Base model not found: {self.model_path} (expected a directory with config.json)",
                )
            )
        for name in ("train_files", "eval_files"):
            for file in getattr(self, name):
                if not Path(file).is_file():
                    errors.append((name, f"Dataset file not found: {file}"))
        return errors

    def validate(self) -> Errors:
        """Spec-level checks plus every hyperparameter check; does not touch the file system."""
        errors: Errors = []
        if self.stage not in STAGES:
            errors.append(("stage", "must be one of " + ", ".join(STAGES)))
        if self.method not in METHODS:
            errors.append(("method", "must be one of " + ", ".join(METHODS)))
        if not self.train_files:
            errors.append(("train_files", "at least one training file is required"))
        hp = self.hyperparameters
        if hp.eval_strategy != "no" and not self.eval_files and hp.val_ratio == 0:
            errors.append(
                ("eval_strategy", "needs held-out data: give an evaluation file or a val_ratio above 0")
            )
        if self.chat_template:
            from training_app.trainer.templates import resolve_chat_template

            try:
                resolve_chat_template(self.chat_template)
            except ValueError as exc:
                errors.append(("chat_template", str(exc)))
        errors.extend(hp.validate(self.method))
        return errors


def _coerce(raw: Any, type_name: Any) -> Any:
    """Convert a JSON or form value to the field's declared type (annotations are strings here)."""
    type_name = str(type_name)
    if type_name == "int | None":
        return None if raw in (None, "", "none", "None") else _coerce(raw, "int")
    if type_name == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in (
            "true",
            "1",
            "yes",
            "on",
            "false",
            "0",
            "no",
            "off",
        ):
            return raw.strip().lower() in ("true", "1", "yes", "on")
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        raise ValueError(raw)
    if isinstance(raw, bool):
        raise TypeError(raw)  # True is an int in Python, but never a sensible number here
    if type_name == "int":
        value = float(raw)
        if not value.is_integer():
            raise ValueError(raw)
        return int(value)
    if type_name == "float":
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError(raw)
        return value
    if type_name == "str":
        if not isinstance(raw, str):
            raise TypeError(raw)
        return raw.strip()
    raise TypeError(type_name)


def _type_word(type_name: Any) -> str:
    return {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "text"}.get(
        str(type_name), "empty, 4 or 8"
    )


def _is_module_list(value: str) -> bool:
    return value == "all" or (len(value) <= MAX_TEXT_LENGTH and bool(_MODULE_LIST.match(value)))
