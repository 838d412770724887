"""The README.md of a job's outputs: a short model card instead of PEFT's stock template (which names the
base model by its directory on the server). Written by the runner before the outputs are stored."""

from __future__ import annotations

import json
from pathlib import Path

from training_app.scores import REPORT_KEYS

KEY_HYPERPARAMETERS = {
    "all": [
        "learning_rate",
        "num_train_epochs",
        "max_steps",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "max_seq_len",
        "lr_scheduler_type",
        "val_ratio",
    ],
    "lora": ["lora_rank", "lora_alpha", "lora_dropout", "lora_target"],
    "freeze": ["freeze_trainable_layers", "freeze_trainable_modules"],
    "dpo": ["pref_beta"],
}
ADAPTER_WORDS = {"lora": "LoRA", "qlora": "QLoRA"}
STAGE_WORDS = {
    "sft": "supervised fine-tuning",
    "dpo": "DPO (preference pairs)",
    "kto": "KTO (answers labelled desirable or not)",
    "pt": "continued pre-training",
}


def model_card(job, eval_report: dict | None, base_report: dict | None) -> str:
    """Markdown naming what the files are and how they were made; names only, never a server path."""
    base = job.base_model.hub_id or job.base_model.name  # a hub id loads anywhere; a name is what we call it
    adapter = job.method in ("lora", "qlora")
    lines = [
        "---",
        f"base_model: {base}",
        "library_name: " + ("peft" if adapter else "transformers"),
        "tags: [tuneforge, " + job.stage + ", " + job.method + "]",
        "---",
        "",
        f"# {job.name}",
        "",
        f"{'A ' + ADAPTER_WORDS[job.method] + ' adapter for' if adapter else 'A fine-tuned copy of'} **{job.base_model.name}**, "
        f"trained with {STAGE_WORDS.get(job.stage, job.stage)} on Tuneforge (job {job.uid.hex}).",
    ]
    if job.base_model.is_test_model:
        lines += ["", "The base is a tiny test model: its answers show that training works, nothing more."]
    lines += ["", "## Data", ""]
    for use in job.job_datasets.all():
        amount = (
            f", {use.num_samples:,} rows"
            if use.num_samples
            else f", {use.ratio:.0%} of the mix"
            if use.ratio
            else ""
        )
        lines.append(f"- {use.name} (version `{use.dataset_sha256[:12]}`{amount})")
    lines += ["", "## Training", "", f"- seed: {job.seed}"]
    hp = job.hyperparameters or {}
    wanted = KEY_HYPERPARAMETERS["all"] + KEY_HYPERPARAMETERS.get("lora" if adapter else job.method, [])
    wanted += KEY_HYPERPARAMETERS.get(job.stage, [])
    lines += [f"- {name}: {hp[name]}" for name in wanted if name in hp]
    lines += ["", "## Evaluation", ""] + _evaluation(eval_report, base_report)
    lines += ["", "## Use", "", "```python", *_loading(base, adapter), "```", ""]
    return "\n".join(lines)


def _evaluation(report: dict | None, base: dict | None) -> list[str]:
    if not report:
        return ["Not evaluated: no rows were held out from training."]
    rows = [
        (label, report[key], (base or {}).get(key))
        for key, label in REPORT_KEYS
        if report.get(key) is not None
    ]
    table = ["| Metric | Fine-tuned | Base model |", "| --- | --- | --- |"]
    table += [f"| {label} | {_number(value)} | {_number(other)} |" for label, value, other in rows]
    note = f"Loss on {report.get('num_examples', 0):,} rows held out from training"
    if report.get("num_generated"):
        note += f"; BLEU/ROUGE of the answers generated for {report['num_generated']:,} of them"
    return [note + ".", "", *table]


def _number(value) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "—"


def _loading(base: str, adapter: bool) -> list[str]:
    if adapter:
        return [
            "from peft import PeftModel",
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "",
            f'base = AutoModelForCausalLM.from_pretrained("{base}")  # the base model, where you keep it',
            'model = PeftModel.from_pretrained(base, "./")  # this folder',
            'tokenizer = AutoTokenizer.from_pretrained("./")',
        ]
    return [
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        'model = AutoModelForCausalLM.from_pretrained("./")  # this folder',
        'tokenizer = AutoTokenizer.from_pretrained("./")',
    ]


def write_model_card(output_dir: Path, job) -> None:
    """Replace the README a trainer wrote (PEFT's template) with the job's model card."""
    reports = []
    for name in ("eval_report.json", "base_eval_report.json"):
        path = output_dir / name
        reports.append(json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None)
    (output_dir / "README.md").write_text(model_card(job, *reports), encoding="utf-8")
