"""Built-in datasets shipped under ``datasets_app/presets/`` and described by its ``index.json``.

A preset is an ordinary upload: :func:`render_preset` writes it (placeholders filled) to a file that the
caller hands to ``ingest()`` with the preset's ``file`` name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .ops import fill_placeholders, placeholders
from .output import AtomicOutput

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"


def list_presets() -> list[dict]:
    """Every preset: slug, title, description, format, language, file, rows, placeholders."""
    with open(PRESETS_DIR / "index.json", encoding="utf-8") as file:
        return json.load(file)["presets"]


def get_preset(slug: str) -> dict:
    for preset in list_presets():
        if preset["slug"] == slug:
            return preset
    raise KeyError(f'unknown preset "{slug}"')


def preset_path(slug: str) -> Path:
    return PRESETS_DIR / get_preset(slug)["file"]


def render_preset(slug: str, out_path: str | os.PathLike, values: dict[str, str] | None = None) -> Path:
    """Write the preset's rows to ``out_path`` (a JSON array) with its placeholders filled.

    Raises ``ValueError`` when a placeholder the preset uses has no non-empty value.
    """
    with open(preset_path(slug), encoding="utf-8") as file:
        rows = json.load(file)
    values = values or {}
    missing = sorted(name for name in placeholders(rows) if not str(values.get(name, "")).strip())
    if missing:
        raise ValueError(f'preset "{slug}" needs a value for: {", ".join(missing)}')
    filled = fill_placeholders(rows, {name: str(value).strip() for name, value in values.items()})
    with AtomicOutput(out_path) as out:
        out.write(json.dumps(filled, ensure_ascii=False, indent=1).encode("utf-8"))
    return Path(out_path)
