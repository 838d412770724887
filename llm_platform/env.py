"""Typed helpers that read settings from the environment (healthchecks' pattern).

Each helper takes the variable's name and a default; ``env_secret`` also reads ``NAME_FILE`` so
secrets can come from mounted files (Docker/Kubernetes secrets) instead of the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from exc


def env_list(name: str, default: list[str] | None = None, sep: str = ",") -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(sep) if item.strip()]


def env_paths(name: str, default: list[Path]) -> list[Path]:
    """A list of directories separated by ``os.pathsep`` (``:``), resolved to absolute paths."""
    raw = os.environ.get(name)
    if raw is None:
        return [p.resolve() for p in default]
    return [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]


def env_secret(name: str, default: str = "") -> str:
    """The value of ``NAME``, or the contents of the file named by ``NAME_FILE``."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        return Path(file_name).read_text().strip()
    return os.environ.get(name, default)
