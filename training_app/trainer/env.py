"""Process environment for an air-gapped trainer.

huggingface_hub reads HF_HUB_OFFLINE when it is first imported, so this must run before transformers,
peft or trl are imported: the CLI calls it first thing.
"""

from __future__ import annotations

import os

OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",  # tokenizers' thread pool and fork() do not mix
    "WANDB_DISABLED": "true",
}


def configure_offline() -> None:
    """No hub access and no experiment trackers; values the caller already set are kept."""
    for name, value in OFFLINE.items():
        os.environ.setdefault(name, value)
