"""Serving settings read in one place: engine defaults, which engines this machine has, the endpoint."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from serving_app.engine.flags import EngineFlags


def engine_flags(engine=None) -> EngineFlags:
    """The SERVING_* defaults, overridden by what an operator set on ``engine`` (admin)."""
    flags = EngineFlags(
        max_model_len=settings.SERVING_MAX_MODEL_LEN or None,
        gpu_memory_utilization=settings.SERVING_GPU_MEMORY_UTILIZATION,
        dtype=settings.SERVING_DTYPE,
        max_lora_rank=settings.SERVING_MAX_LORA_RANK,
        max_loras=settings.SERVING_MAX_LORAS,
    )
    if engine is None:
        return flags
    return EngineFlags(
        max_model_len=engine.max_model_len or flags.max_model_len,
        gpu_memory_utilization=engine.gpu_memory_utilization or flags.gpu_memory_utilization,
        dtype=engine.dtype or flags.dtype,
        max_lora_rank=flags.max_lora_rank,
        max_loras=flags.max_loras,
    )


def vllm_python() -> str | None:
    """The interpreter of the vLLM environment (`make vllm`), or None where there is none."""
    path = settings.VLLM_PYTHON
    return path if path and Path(path).is_file() else None


def default_engine_kind() -> str:
    choice = settings.SERVING_DEFAULT_ENGINE
    if choice == "auto":
        return "vllm" if vllm_python() else "builtin"
    return choice


def gateway_endpoint() -> str:
    """The OpenAI base URL users point their clients at."""
    return f"{settings.SITE_URL}/v1"


def serving_dir() -> Path:
    path = Path(settings.SERVING_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path
