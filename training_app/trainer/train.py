"""Run one training job from a JobSpec: data, model, method, Trainer (or TRL's DPOTrainer), artifacts."""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
import json
import re
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from training_app.trainer import data as ds
from training_app.trainer.callbacks import EventsCallback
from training_app.trainer.disk import disk_full, no_space
from training_app.trainer.env import configure_offline
from training_app.trainer.errors import JobError
from training_app.trainer.events import EventEmitter, clean_json
from training_app.trainer.model_setup import (
    check_model_path,
    count_parameters,
    load_model,
    load_tokenizer,
    placement,
    prepare_model,
)
from training_app.trainer.spec import SAVE_TOTAL_LIMIT, JobSpec, environment_errors, format_errors

REPORT_FILE = "trainer_report.json"
EVAL_REPORT_FILE = "eval_report.json"
BASE_EVAL_REPORT_FILE = "base_eval_report.json"


def check_spec(spec: JobSpec) -> None:
    errors = spec.validate()
    if not errors:
        errors = environment_errors(
            spec.hyperparameters,
            spec.method,
            cuda_available=torch.cuda.is_available(),
            bitsandbytes_available=importlib.util.find_spec("bitsandbytes") is not None,
            bf16_supported=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        )
    if errors:
        raise JobError(format_errors(errors))


WEIGHT_FILES = (
    "adapter_model.safetensors",
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "adapter_model.bin",
)
CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")


def complete_checkpoint(path: Path) -> bool:
    """A checkpoint a kill did not interrupt: Trainer writes its state file after weights and optimizer."""
    has_weights = any((path / name).exists() for name in WEIGHT_FILES)
    return has_weights and (path / "trainer_state.json").exists() and (path / "optimizer.pt").exists()


def latest_complete_checkpoint(output_dir: str) -> str | None:
    """The newest whole checkpoint; half-written ones (the job was killed while saving) are removed."""
    directory = Path(output_dir)
    if not directory.is_dir():
        return None
    found = sorted(
        (int(match.group(1)), child)
        for child in directory.iterdir()
        if child.is_dir() and (match := CHECKPOINT_DIR.match(child.name))
    )
    for _step, path in reversed(found):
        if complete_checkpoint(path):
            return str(path)
        shutil.rmtree(path, ignore_errors=True)
    return None


def resolve_resume(spec: JobSpec) -> str | None:
    value = spec.resume_from_checkpoint
    if not value:
        return None
    if value == "latest":
        return latest_complete_checkpoint(spec.output_dir)
    if not Path(value).is_dir():
        raise JobError(f"Checkpoint to resume from not found: {value}")
    return value


def load_rows(spec: JobSpec) -> tuple[list[dict], list[dict]]:
    """Training and held-out rows; held-out rows come from eval_files or a seeded val_ratio split."""
    kind = {"sft": "sft", "pt": "text", "dpo": "preference", "kto": "kto"}[spec.stage]
    rows = ds.read_files(spec.train_files)
    ds.require_kind(rows, kind, spec.stage)
    if spec.eval_files:
        eval_rows = ds.read_files(spec.eval_files)
        ds.require_kind(eval_rows, kind, spec.stage)
        return rows, eval_rows
    return ds.split_rows(rows, spec.hyperparameters.val_ratio, spec.seed)


def training_arguments(spec: JobSpec, *, on_gpu: bool, has_eval: bool) -> dict[str, Any]:
    hp = spec.hyperparameters
    return {
        "output_dir": spec.output_dir,
        "per_device_train_batch_size": hp.per_device_train_batch_size,
        "per_device_eval_batch_size": hp.per_device_train_batch_size,
        "gradient_accumulation_steps": hp.gradient_accumulation_steps,
        "learning_rate": hp.learning_rate,
        "num_train_epochs": hp.num_train_epochs,
        "max_steps": hp.max_steps,
        "lr_scheduler_type": hp.lr_scheduler_type,
        "warmup_steps": hp.warmup_ratio,  # transformers reads a value below 1 as a ratio of all steps
        "weight_decay": hp.weight_decay,
        "max_grad_norm": hp.max_grad_norm,
        "logging_steps": hp.logging_steps,
        "save_strategy": hp.save_strategy,
        "save_steps": hp.save_steps,
        "save_total_limit": SAVE_TOTAL_LIMIT,
        "eval_strategy": hp.eval_strategy if has_eval else "no",
        "eval_steps": hp.eval_steps,
        "bf16": hp.bf16 and on_gpu,
        "fp16": hp.fp16 and on_gpu,
        "use_cpu": not on_gpu,
        "seed": spec.seed,
        "data_seed": spec.seed,
        "report_to": "none",
        "disable_tqdm": True,
        "include_num_input_tokens_seen": "non_padding",
        "dataloader_num_workers": 0,
        "ddp_find_unused_parameters": False,
        **_checkpointing(on_gpu),
    }


def _checkpointing(on: bool) -> dict[str, Any]:
    """Activation checkpointing on GPUs (memory for ~30% speed, as LLaMA-Factory does); off on the CPU.

    transformers 5 renamed gradient_checkpointing to activation_checkpointing; TRL's configs default the
    old name to True, so the setting must be explicit under whichever name this version reads.
    """
    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    key = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {key: on, f"{key}_kwargs": {"use_reentrant": False} if on else None}


def build_trainer(
    spec: JobSpec,
    model: Any,
    peft_cfg: Any,
    tokenizer: Any,
    train_rows: list[dict],
    eval_rows: list[dict],
    args: dict[str, Any],
    callback: EventsCallback,
) -> Any:
    """transformers' Trainer for sft/pt; TRL's DPOTrainer / KTOTrainer (which tokenize themselves) for dpo/kto."""
    hp = spec.hyperparameters
    if spec.stage == "kto":
        return _kto_trainer(spec, model, peft_cfg, tokenizer, train_rows, eval_rows, args, callback)
    if spec.stage == "dpo":
        from datasets import Dataset
        from trl import DPOConfig, DPOTrainer

        def prefs(rows):
            return Dataset.from_list([ds.encode_dpo(r, tokenizer) for r in rows]) if rows else None

        extra = {}
        if "trust_remote_code" in {f.name for f in dataclasses.fields(DPOConfig)}:
            extra["trust_remote_code"] = spec.trust_remote_code  # TRL loads the reference model itself
        config = DPOConfig(**args, **extra, beta=hp.pref_beta, max_length=hp.max_seq_len)
        return DPOTrainer(
            model=model,
            args=config,
            train_dataset=prefs(train_rows),
            eval_dataset=prefs(eval_rows),
            processing_class=tokenizer,
            peft_config=peft_cfg,
            callbacks=[callback],
        )

    from transformers import Trainer, TrainingArguments

    def examples(rows, packing):
        return ds.build_lm_examples(
            rows,
            tokenizer,
            stage=spec.stage,
            max_seq_len=hp.max_seq_len,
            train_on_prompt=hp.train_on_prompt,
            packing=packing,
        )

    train_examples = examples(train_rows, hp.packing)
    if not train_examples:
        raise JobError(
            "No training example is left after tokenization: every one was cut to max_seq_len "
            "before its answer; raise max_seq_len"
        )
    eval_examples = examples(eval_rows, False) if eval_rows else None
    if not eval_examples:
        args = {**args, "eval_strategy": "no"}  # every held-out row was cut before its answer
    return Trainer(
        model=model,
        args=TrainingArguments(**args, remove_unused_columns=False),
        train_dataset=train_examples,
        eval_dataset=eval_examples or None,
        # Multiples of 8 let GPU tensor cores work on padded batches; on the CPU it only adds work.
        data_collator=ds.PadCollator(
            tokenizer.pad_token_id, pad_to_multiple_of=None if args["use_cpu"] else 8
        ),
        processing_class=tokenizer,
        callbacks=[callback],
    )


def _kto_trainer(spec, model, peft_cfg, tokenizer, train_rows, eval_rows, args, callback) -> Any:
    """TRL's KTOTrainer on unpaired answers: desirable ones are pulled up, undesirable ones pushed down."""
    from datasets import Dataset
    from trl import KTOConfig, KTOTrainer

    hp = spec.hyperparameters
    if hp.per_device_train_batch_size < 2:
        raise JobError(
            "KTO estimates its reference point from other answers in the same batch: "
            "set per_device_train_batch_size to 2 or more"
        )
    labels = {row["label"] for row in train_rows}
    if len(labels) < 2:
        which = "desirable (label true)" if True in labels else "undesirable (label false)"
        raise JobError(f"KTO needs desirable and undesirable answers; every training row is {which}")

    def unpaired(rows):
        return Dataset.from_list([ds.encode_kto(r, tokenizer) for r in rows]) if rows else None

    extra = {}
    if "trust_remote_code" in {f.name for f in dataclasses.fields(KTOConfig)}:
        extra["trust_remote_code"] = spec.trust_remote_code
    config = KTOConfig(**args, **extra, beta=hp.pref_beta, max_length=hp.max_seq_len)
    return KTOTrainer(
        model=model,
        args=config,
        train_dataset=unpaired(train_rows),
        eval_dataset=unpaired(eval_rows),
        processing_class=tokenizer,
        peft_config=peft_cfg,
        callbacks=[callback],
    )


def finished_at_checkpoint(trainer, resume: str | None) -> bool:
    """The checkpoint to resume from was taken at the run's last step (``max_steps``): nothing is left.

    HF's Trainer would still train one more step from it (it skips the batches already seen, then takes
    the next before it checks the budget). Epoch budgets do not have that problem.
    """
    if not resume or trainer.args.max_steps <= 0:
        return False
    try:
        state = json.loads((Path(resume) / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return int(state.get("global_step") or 0) >= trainer.args.max_steps


def _train(trainer, resume: str | None, emitter: EventEmitter) -> None:
    if finished_at_checkpoint(trainer, resume):
        from transformers import TrainerState

        # The weights and the step count of the finished run, without a step more.
        trainer._load_from_checkpoint(resume)  # noqa: SLF001 - what train() itself calls to resume
        trainer.state = TrainerState.load_from_json(str(Path(resume) / "trainer_state.json"))
        emitter.log(
            f"{Path(resume).name} is the last step ({trainer.state.global_step}): nothing left to train"
        )
        return
    try:
        trainer.train(resume_from_checkpoint=resume)
    except torch.cuda.OutOfMemoryError as exc:
        step = trainer.state.global_step + 1
        raise JobError(
            f"CUDA out of memory at step {step}: lower per_device_train_batch_size or max_seq_len", str(exc)
        ) from exc
    except Exception as exc:
        step = trainer.state.global_step
        partial = Path(trainer.args.output_dir) / f"checkpoint-{step}"
        if not partial.is_dir() or complete_checkpoint(partial) or not disk_full(exc, partial):
            raise
        reason = no_space(f"checkpoint at step {step}", partial)
        # Half a checkpoint cannot be resumed from, and deleting it gives back the room the error event
        # needs (the events file lives on the same disk).
        shutil.rmtree(partial, ignore_errors=True)
        raise JobError(f"{reason} The half-written checkpoint was deleted.", traceback.format_exc()) from exc


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(clean_json(payload), indent=2, ensure_ascii=False), encoding="utf-8")


def run_job(spec: JobSpec, emitter: EventEmitter | None = None) -> dict[str, Any]:
    """Run one job to completion and return the trainer report; raises JobError for user-fixable failures."""
    from transformers import set_seed

    from training_app.trainer.evaluate import evaluate_model

    configure_offline()
    emitter = emitter or EventEmitter()
    started = time.time()
    check_spec(spec)
    hp = spec.hyperparameters
    resume = resolve_resume(spec)
    set_seed(spec.seed)
    where = placement(hp, spec.method)
    check_model_path(spec)
    tokenizer = load_tokenizer(spec)
    train_rows, eval_rows = load_rows(spec)
    emitter.log(f"{len(train_rows)} training rows, {len(eval_rows)} held out for evaluation")
    model = load_model(spec, where)
    model, peft_cfg = prepare_model(model, spec, gradient_checkpointing=where.on_gpu)
    callback = EventsCallback(emitter)
    args = training_arguments(spec, on_gpu=where.on_gpu, has_eval=bool(eval_rows))
    trainer = build_trainer(spec, model, peft_cfg, tokenizer, train_rows, eval_rows, args, callback)
    trainable, total = count_parameters(trainer.model)
    emitter.log(
        f"{spec.method} {spec.stage} on {'GPU' if where.on_gpu else 'CPU'}: "
        f"{trainable:,} of {total:,} parameters trainable" + (f"; resuming from {resume}" if resume else "")
    )
    _train(trainer, resume, emitter)

    output_dir = Path(spec.output_dir)
    is_adapter = spec.method in ("lora", "qlora")
    trainer.save_model(str(output_dir))  # every rank calls it; Trainer writes from the main process only
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(output_dir))
    global_step = trainer.state.global_step
    is_main = trainer.is_world_process_zero()
    del trainer, model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if not is_main:
        return {}

    eval_report = base_report = None
    if eval_rows:
        emitter.log(f"Evaluating on {len(eval_rows)} held-out rows")
        common = {
            "stage": spec.stage,
            "max_seq_len": hp.max_seq_len,
            "max_new_tokens": hp.eval_max_new_tokens,
            "max_samples": hp.max_eval_samples,
            "do_generation": hp.do_eval_generation and spec.stage != "pt",
            "trust_remote_code": spec.trust_remote_code,
            "use_cpu": not where.on_gpu,
        }
        eval_report = evaluate_model(
            str(output_dir) if not is_adapter else spec.model_path,
            str(output_dir) if is_adapter else None,
            eval_rows,
            tokenizer_path=str(output_dir),
            **common,
        )
        write_json(output_dir / EVAL_REPORT_FILE, eval_report)
        if hp.eval_base_model:
            emitter.log("Evaluating the base model on the same rows, for comparison")
            base_report = evaluate_model(
                spec.model_path, None, eval_rows, tokenizer_path=str(output_dir), **common
            )
            write_json(output_dir / BASE_EVAL_REPORT_FILE, base_report)
        emitter.emit("eval", report=eval_report, base_report=base_report)

    report = {
        "stage": spec.stage,
        "method": spec.method,
        "base_model": spec.model_name or spec.model_path,
        "output_dir": str(output_dir),
        "artifact": "adapter" if is_adapter else "full_model",
        "global_step": global_step,
        "trainable_parameters": trainable,
        "total_parameters": total,
        "train_rows": len(train_rows),
        "eval_rows": len(eval_rows),
        "resumed_from": resume,
        "device": "cuda" if where.on_gpu else "cpu",
        "devices": spec.devices,
        "hyperparameters": hp.to_dict(),
        "summary": callback.summary,
        "eval": eval_report,
        "wall_seconds": round(time.time() - started, 2),
    }
    write_json(output_dir / REPORT_FILE, report)
    emitter.emit(
        "done",
        output_dir=str(output_dir),
        artifact=report["artifact"],
        global_step=global_step,
        train_loss=callback.summary.get("train_loss"),
        report_path=str(output_dir / REPORT_FILE),
        eval_report_path=str(output_dir / EVAL_REPORT_FILE) if eval_report else None,
    )
    return report
