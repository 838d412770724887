"""System checks: the SERVING_* settings are validated once, where `manage.py check` reports them."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, register

from serving_app.conf import engine_flags
from serving_app.engine.flags import device_error


@register()
def serving_settings(app_configs, **kwargs):
    problems = []
    for field, message in engine_flags().errors():
        problems.append(Error(f"SERVING_{field.upper()} {message}.", id="serving.E001"))
    problem = device_error(settings.SERVING_DEVICE)
    if problem:
        problems.append(Error(f"SERVING_DEVICE: {problem}.", id="serving.E002"))
    if settings.SERVING_DEFAULT_ENGINE not in ("auto", "vllm", "builtin"):
        problems.append(Error("SERVING_DEFAULT_ENGINE must be auto, vllm or builtin.", id="serving.E003"))
    if settings.VLLM_PYTHON and not Path(settings.VLLM_PYTHON).is_file():
        problems.append(
            Error(f"VLLM_PYTHON={settings.VLLM_PYTHON} does not exist (run `make vllm`).", id="serving.E004")
        )
    return problems
