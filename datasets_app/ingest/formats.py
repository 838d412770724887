"""Dataset formats, user column mappings, and telling the format from the first rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import INVALID_OPTIONS, UNKNOWN_FORMAT, FileError

FORMATS = ("alpaca", "sharegpt", "openai", "turns", "preference", "kto", "text")
KIND_OF_FORMAT = {
    "alpaca": "sft",
    "sharegpt": "sft",
    "openai": "sft",
    "turns": "sft",
    "preference": "preference",
    "kto": "kto",
    "text": "text",
}
DETECT_ROWS = 10

COLUMNS = (
    "prompt",
    "query",
    "response",
    "history",
    "messages",
    "system",
    "tools",
    "chosen",
    "rejected",
    "completion",
    "label",
    "text",
)
_MAPPED_FORMATS = ("alpaca", "sharegpt", "openai", "turns", "kto")
TAGS = (
    "role_tag",
    "content_tag",
    "user_tag",
    "assistant_tag",
    "observation_tag",
    "function_tag",
    "system_tag",
)
_MAPPING_KEYS = ("columns", "tags", "formatting", "ranking")


@dataclass(frozen=True)
class ColumnMapping:
    """Field names of a dataset, after LLaMA-Factory's ``dataset_info.json`` ``columns`` and ``tags``.

    ``messages`` is ``None`` until the format is known: sharegpt then reads ``conversations`` (or
    ``messages`` when a row has no ``conversations``), openai reads ``messages``.
    """

    prompt: str = "instruction"
    query: str = "input"
    response: str = "output"
    history: str = "history"
    messages: str | None = None
    system: str = "system"
    tools: str = "tools"
    chosen: str = "chosen"
    rejected: str = "rejected"
    completion: str = "completion"
    label: str = "label"
    text: str = "text"
    role_tag: str = "from"
    content_tag: str = "value"
    user_tag: str = "human"
    assistant_tag: str = "gpt"
    observation_tag: str = "observation"
    function_tag: str = "function_call"
    system_tag: str = "system"
    formatting: str | None = None  # one of _MAPPED_FORMATS when the mapping says so
    ranking: bool = False  # preference pairs (LLaMA-Factory's "ranking": true)
    tags_given: bool = False

    @classmethod
    def from_dict(cls, mapping: Mapping | None) -> ColumnMapping:
        """Validate a ``{"columns": {...}, "tags": {...}, "formatting": ..., "ranking": ...}`` mapping."""
        if not mapping:
            return cls()
        if not isinstance(mapping, Mapping):
            raise FileError(INVALID_OPTIONS, "the column mapping must be an object")
        _check_keys(mapping, _MAPPING_KEYS, "mapping key")
        fields: dict[str, object] = {}
        for section, allowed in (("columns", COLUMNS), ("tags", TAGS)):
            given = mapping.get(section) or {}
            if not isinstance(given, Mapping):
                raise FileError(INVALID_OPTIONS, f'mapping "{section}" must be an object')
            _check_keys(given, allowed, section[:-1])
            for key, name in given.items():
                if not isinstance(name, str) or not name:
                    raise FileError(INVALID_OPTIONS, f"mapping {section}.{key} must be a non-empty string")
                fields[key] = name
        formatting = mapping.get("formatting")
        if formatting is not None and formatting not in _MAPPED_FORMATS:
            allowed = ", ".join(_MAPPED_FORMATS)
            raise FileError(INVALID_OPTIONS, f'mapping "formatting" must be one of {allowed}')
        ranking = mapping.get("ranking", False)
        if not isinstance(ranking, bool):
            raise FileError(INVALID_OPTIONS, 'mapping "ranking" must be true or false')
        return cls(**fields, formatting=formatting, ranking=ranking, tags_given=bool(mapping.get("tags")))

    @property
    def mapped_format(self) -> str | None:
        if self.ranking:
            return "preference"
        return self.formatting


def _check_keys(given: Mapping, allowed: tuple[str, ...], what: str) -> None:
    for key in given:
        if key not in allowed:
            raise FileError(INVALID_OPTIONS, f'unknown {what} "{key}": expected one of {", ".join(allowed)}')


def check_format(fmt: str | None) -> str | None:
    if fmt is not None and fmt not in FORMATS:
        raise FileError(INVALID_OPTIONS, f'unknown format "{fmt}": expected one of {", ".join(FORMATS)}')
    return fmt


def resolve_format(
    fmt: str | None, mapping: ColumnMapping, head: Iterable[object]
) -> tuple[str, ColumnMapping]:
    """The format to use (explicit, from the mapping, or detected) and the mapping with defaults filled."""
    fmt = fmt or mapping.mapped_format
    rows = [row for row in head if isinstance(row, dict)]
    if fmt is None:
        fmt = _detect(rows, mapping)
    if mapping.messages is None and fmt in ("sharegpt", "openai"):
        key = "messages"
        if fmt == "sharegpt" and (not rows or "conversations" in rows[0] or "messages" not in rows[0]):
            key = "conversations"
        mapping = dataclasses.replace(mapping, messages=key)
    if mapping.messages is None and fmt == "turns":
        key = next((k for row in rows for k in row if is_turn_list(row[k])), "data")
        mapping = dataclasses.replace(mapping, messages=key)
    return fmt, mapping


def is_turn_list(value: object) -> bool:
    """A conversation stored as alternating strings, user first: ``["问：...", "答：...", ...]``."""
    return type(value) is list and len(value) >= 2 and all(type(item) is str for item in value)


def used_keys(fmt: str, m: ColumnMapping) -> frozenset[str]:
    """The top-level fields a format reads; every other field of a row is reported as ignored."""
    prompt_keys = {m.prompt, m.query, m.history, m.system, "input", "prompt", "conversations", "messages"}
    keys = {
        "alpaca": {m.prompt, m.query, m.response, m.history, m.system, m.tools},
        "sharegpt": {m.messages, m.system, m.tools},
        "openai": {m.messages, m.tools},
        "turns": {m.messages, m.system},
        "preference": prompt_keys
        | {m.messages, m.chosen, m.rejected, *(key for pair in ANSWER_KEYS for key in pair)},
        "kto": {m.messages, "messages", "conversations", m.prompt, "prompt", m.completion, m.label}
        | {m.system, m.tools},
        "text": {m.text},
    }[fmt]
    return frozenset(key for key in keys if key)


ANSWER_KEYS = (
    ("preferred_output", "non_preferred_output"),
    ("preferred_completion", "non_preferred_completion"),
)


def _detect(rows: list[dict], mapping: ColumnMapping) -> str:
    for row in rows:
        fmt = detect_row(row, mapping)
        if fmt:
            return fmt
    seen: list[str] = []
    for row in rows:
        seen.extend(key for key in row if key not in seen)
    keys = ", ".join(f'"{key}"' for key in seen[:20]) or "none (no row is a JSON object)"
    raise FileError(
        UNKNOWN_FORMAT,
        f"could not tell the dataset format from the first rows; keys seen: {keys}. Expected alpaca "
        '("instruction", "input", "output"), sharegpt ("conversations"), openai ("messages"), alternating '
        'turns (a list of strings), preference ("chosen", "rejected"), kto ("messages" or "prompt"/'
        '"completion" with a true/false "label") or text ("text"), or give a column mapping',
    )


def detect_row(row: dict, m: ColumnMapping) -> str | None:
    """The format one row looks like, or ``None``."""
    if type(row.get(m.label)) is bool and (
        any(key in row for key in (m.messages, "messages", "conversations") if key)
        or (m.completion in row and (m.prompt in row or "prompt" in row))
    ):
        return "kto"
    if "preferred_output" in row or "preferred_completion" in row:
        return "preference"
    if m.chosen in row and m.rejected in row:
        return "preference"
    key = m.messages or ("conversations" if "conversations" in row else "messages")
    turns = row.get(key)
    if is_turn_list(turns):
        return "turns"
    if isinstance(turns, list):
        first = turns[0] if turns and isinstance(turns[0], dict) else {}
        if m.tags_given or m.role_tag in first:
            return "sharegpt"
        if "role" in first and key == "messages":
            return "openai"
        if "role" in first:
            raise FileError(
                UNKNOWN_FORMAT,
                f'the "{key}" messages use "role"/"content": give the format "openai" with the column '
                f'mapping messages="{key}", or sharegpt tags (role_tag="role", content_tag="content", '
                'user_tag="user", assistant_tag="assistant", system_tag="system")',
            )
    if m.prompt in row and m.response in row:
        return "alpaca"
    if m.text in row:
        return "text"
    if any(is_turn_list(value) for value in row.values()):
        return "turns"
    return None
