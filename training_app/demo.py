"""Demo content for `make up`: the tiny local base model, and the one-click demo job of the home page.

The demo job teaches the tiny model its name on the identity preset. The hyperparameters were measured
on this 2-core CPU (greedy decoding, rank-8 LoRA): at the default learning rate (5e-5) the loss barely
moves, at 1e-3 for 10 epochs it answers noise that merely contains pieces of the name, at 5e-3 for 20
epochs the loss falls from 8.4 to about 1.2 and every trained question is answered with the name
(about 20 s of training on one thread).
"""

from __future__ import annotations

from datasets_app.models import Dataset, DatasetStatus
from llm_platform.errors import DomainError
from training_app import services
from training_app.management.commands.create_tiny_model import TINY_NAME, ensure_tiny_model
from training_app.models import BaseModel, TrainingJob

IDENTITY_PRESET = "identity"
DEMO_ASSISTANT_NAME = "Forgey"
DEMO_JOB_PREFIX = "teach-forgey"
# A tiny model learns a 32-row identity set only with a learning rate far above a real model's.
DEMO_HYPERPARAMETERS = {
    "learning_rate": 5e-3,
    "num_train_epochs": 20,
    "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 1,
    "max_seq_len": 128,
    "lr_scheduler_type": "constant",
    "logging_steps": 5,
    "save_steps": 50,
    "lora_rank": 8,
    "lora_alpha": 16,
    "val_ratio": 0.1,
    "do_eval_generation": True,
    "eval_base_model": True,
    "eval_max_new_tokens": 32,
    "max_eval_samples": 3,
}


def demo_setup(org, out) -> None:
    model = ensure_tiny_model()
    out.write(f"Base model ready: {model.name} (a tiny test model, {model.parameter_count:,} parameters)")


def demo_offer(org) -> dict | None:
    """What the home page needs to offer the demo job, or None when the tiny model or the preset is missing."""
    model = BaseModel.objects.filter(name=TINY_NAME, is_valid=True).first()
    preset = Dataset.objects.filter(preset_slug=IDENTITY_PRESET, status=DatasetStatus.READY).first()
    if model is None or preset is None:
        return None
    return {"model": model, "preset": preset, "name": DEMO_ASSISTANT_NAME}


def _free_name(org) -> str:
    taken = set(
        TrainingJob.objects.filter(organization=org, name__startswith=DEMO_JOB_PREFIX).values_list(
            "name", flat=True
        )
    )
    name, number = DEMO_JOB_PREFIX, 1
    while name in taken:
        number += 1
        name = f"{DEMO_JOB_PREFIX}-{number}"
    return name


def start_demo_job(org, user) -> TrainingJob:
    """Queue the demo job: the tiny model learns to call itself Forgey, made by the organization."""
    offer = demo_offer(org)
    if offer is None:
        raise DomainError(
            "The demo needs the tiny model and the identity preset: run `manage.py bootstrap_demo`."
        )
    placeholders = {"name": DEMO_ASSISTANT_NAME, "author": org.name}
    return services.create_job(
        org,
        user,
        name=_free_name(org),
        base_model=offer["model"],
        datasets=[services.DatasetChoice(offer["preset"], None, None, placeholders)],
        hyperparameters=DEMO_HYPERPARAMETERS,
        devices="cpu",
    )
