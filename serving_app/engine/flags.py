"""The engine flags an operator may set, and the one place that checks them.

Settings (``SERVING_*``) give the defaults; an operator may override them per engine in the admin. Both
paths go through :func:`flag_errors`, so nothing unchecked ever reaches an engine's argument list.
This module imports nothing from Django: the engine commands are built from it in any process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DTYPES = ("auto", "float16", "bfloat16", "float32")
# vLLM accepts only these LoRA ranks for --max-lora-rank (vllm/config/lora.py MaxLoRARanks).
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
MAX_MODEL_LEN_RANGE = (16, 1_048_576)
MEMORY_UTILIZATION_RANGE = (0.05, 0.99)
MAX_LORAS_RANGE = (1, 64)
DEVICE_PATTERN = re.compile(r"^(cpu|[0-9]{1,2})$")

Errors = list[tuple[str, str]]


@dataclass(frozen=True)
class EngineFlags:
    """What an engine process is started with, beyond the model itself."""

    max_model_len: int | None = None  # None: the model's own context length
    gpu_memory_utilization: float | None = None  # None: 0.3 on CPU (share of RAM), 0.9 on a GPU
    dtype: str = "auto"
    max_lora_rank: int = 16
    max_loras: int = 4

    def errors(self) -> Errors:
        return flag_errors(
            max_model_len=self.max_model_len,
            gpu_memory_utilization=self.gpu_memory_utilization,
            dtype=self.dtype,
            max_lora_rank=self.max_lora_rank,
            max_loras=self.max_loras,
        )

    def memory_utilization(self, device: str) -> float:
        if self.gpu_memory_utilization is not None:
            return self.gpu_memory_utilization
        return 0.3 if device == "cpu" else 0.9


def flag_errors(
    *,
    max_model_len=None,
    gpu_memory_utilization=None,
    dtype="auto",
    max_lora_rank=16,
    max_loras=4,
) -> Errors:
    """Every problem with the given flags, as ``(field, what to fix)``; empty when all are valid."""
    errors: Errors = []
    low, high = MAX_MODEL_LEN_RANGE
    if max_model_len is not None and (not _is_int(max_model_len) or not low <= max_model_len <= high):
        errors.append(("max_model_len", f"must be a whole number from {low} to {high}, or empty"))
    low_m, high_m = MEMORY_UTILIZATION_RANGE
    if gpu_memory_utilization is not None and (
        not isinstance(gpu_memory_utilization, int | float)
        or isinstance(gpu_memory_utilization, bool)
        or not low_m <= gpu_memory_utilization <= high_m
    ):
        errors.append(("gpu_memory_utilization", f"must be a fraction from {low_m} to {high_m}, or empty"))
    if dtype not in DTYPES:
        errors.append(("dtype", "must be one of " + ", ".join(DTYPES)))
    if max_lora_rank not in LORA_RANKS:
        errors.append(("max_lora_rank", "must be one of " + ", ".join(map(str, LORA_RANKS))))
    low_l, high_l = MAX_LORAS_RANGE
    if not _is_int(max_loras) or not low_l <= max_loras <= high_l:
        errors.append(("max_loras", f"must be a whole number from {low_l} to {high_l}"))
    return errors


def device_error(device: str) -> str | None:
    if not isinstance(device, str) or not DEVICE_PATTERN.match(device):
        return "use 'cpu' or a GPU index such as '0'"
    return None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
