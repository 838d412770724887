"""The job form: model, data, method, and every hyperparameter with its one-line help."""

from __future__ import annotations

import dataclasses

from django import forms

from llm_platform.tenancy import scoped
from training_app.models import BaseModel
from training_app.trainer.limits import BOUNDS, SEED_BOUND
from training_app.trainer.spec import HELP, METHODS, STAGES, Hyperparameters

CHOICES = {
    "lr_scheduler_type": [
        "linear",
        "cosine",
        "constant",
        "constant_with_warmup",
        "polynomial",
        "cosine_with_restarts",
    ],
    "save_strategy": ["steps", "epoch", "no"],
    "eval_strategy": ["no", "steps", "epoch"],
}
GROUPS = [
    (
        "Training",
        [
            "learning_rate",
            "num_train_epochs",
            "max_steps",
            "per_device_train_batch_size",
            "gradient_accumulation_steps",
            "max_seq_len",
            "lr_scheduler_type",
            "warmup_ratio",
            "weight_decay",
            "max_grad_norm",
        ],
    ),
    (
        "Data and evaluation",
        [
            "val_ratio",
            "packing",
            "train_on_prompt",
            "eval_strategy",
            "eval_steps",
            "do_eval_generation",
            "eval_base_model",
            "eval_max_new_tokens",
            "max_eval_samples",
        ],
    ),
    ("Checkpoints and logging", ["save_strategy", "save_steps", "logging_steps"]),
    ("Precision and memory", ["bf16", "fp16", "cpu_load", "quantization_bit"]),
    ("LoRA", ["lora_rank", "lora_alpha", "lora_dropout", "lora_target", "use_dora"]),
    ("Freeze", ["freeze_trainable_layers", "freeze_trainable_modules"]),
    ("DPO", ["pref_beta"]),
]
DEFAULTS = Hyperparameters().to_dict()
PORTAL_VAL_RATIO = 0.1
TYPES = {f.name: f.type for f in dataclasses.fields(Hyperparameters)}


def _number_input(name: str) -> forms.NumberInput:
    """The browser's min/max from the one table; the job service checks them again (with open ends),
    so the portal, the API and Bisheng's API refuse alike."""
    bound = BOUNDS.get(name)
    if bound is None:
        return forms.NumberInput()
    low = -1 if name == "max_steps" else bound.low
    return forms.NumberInput(attrs={"min": low, "max": bound.high})


def _field(name: str) -> forms.Field:
    default = DEFAULTS[name]
    kind = str(TYPES[name])
    common = {"required": False, "help_text": HELP.get(name, ""), "initial": default}
    if name in CHOICES:
        return forms.ChoiceField(choices=[(c, c) for c in CHOICES[name]], **common)
    if name == "quantization_bit":
        return forms.TypedChoiceField(
            choices=[("", "none"), ("4", "4-bit"), ("8", "8-bit")], coerce=int, empty_value=None, **common
        )
    if "bool" in kind:
        return forms.BooleanField(**common)
    if "int" in kind:
        return forms.IntegerField(widget=_number_input(name), **common)
    if "float" in kind:
        return forms.FloatField(widget=_number_input(name), **common)
    return forms.CharField(**common)


STAGE_LABELS = {
    "sft": "SFT (instructions)",
    "pt": "Continued pre-training",
    "dpo": "DPO (preference pairs)",
    "kto": "KTO (answers labelled desirable or not)",
}


class JobForm(forms.Form):
    name = forms.CharField(
        max_length=50, help_text="Letters, digits, '-' and '_'; unique in your organization."
    )
    base_model = forms.ModelChoiceField(queryset=BaseModel.objects.none())
    stage = forms.ChoiceField(
        choices=[(s, STAGE_LABELS[s]) for s in STAGES],
        initial="sft",
    )
    method = forms.ChoiceField(
        choices=[(m, m.upper() if m != "freeze" else "Freeze") for m in METHODS], initial="lora"
    )
    devices = forms.CharField(
        initial="cpu",
        help_text="'cpu', 'auto' (one GPU), 'auto:2', or GPU ids like 0,1 (of the GPUs page; on one host).",
    )
    seed = forms.IntegerField(
        initial=42,
        widget=forms.NumberInput(attrs={"min": SEED_BOUND.low, "max": SEED_BOUND.high}),
        help_text=f"Seeds the data split and training; {SEED_BOUND.words()}.",
    )

    def __init__(self, *args, org=None, **kwargs):
        super().__init__(*args, **kwargs)
        models = scoped(BaseModel.objects.filter(is_valid=True), org).distinct()
        self.fields["base_model"].queryset = models
        self.fields["base_model"].initial = models.first()
        for name in DEFAULTS:
            self.fields[f"hp_{name}"] = _field(name)
        # Generation evaluation and the base-model comparison are ticked by default; without held-out
        # rows they would score nothing, so the portal holds out a tenth unless the user says otherwise.
        self.fields["hp_val_ratio"].initial = PORTAL_VAL_RATIO

    def hyperparameters(self) -> dict:
        values = {}
        for name, default in DEFAULTS.items():
            value = self.cleaned_data.get(f"hp_{name}")
            if value is None or value == "":
                if isinstance(default, bool):
                    values[name] = False
                continue
            values[name] = value
        return values

    def groups(self):
        return [(title, [self[f"hp_{name}"] for name in names]) for title, names in GROUPS]
