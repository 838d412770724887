"""Validate one row of a known format and turn it into a canonical row (docs/canonical-format.md).

``make_normaliser(fmt, mapping, trim=..., drop_empty_turns=...)`` returns a function ``row -> dict`` that
raises :class:`RowInvalid` with the offending field and what was expected. Field paths in messages use
the user's own names: ``"conversations"[2].from``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from .errors import RowInvalid
from .formats import ColumnMapping
from .reader import InvalidJSON, json_type

Normaliser = Callable[[object], dict]


def not_an_object(row: object) -> RowInvalid:
    if isinstance(row, InvalidJSON):
        return RowInvalid("invalid_json", None, row.message)
    return RowInvalid("not_an_object", None, f"a row must be a JSON object, got {json_type(row)}")


def text_field(value: object, field: str, trim: bool, *, required: bool = True) -> str:
    """A string field (``field`` is its display path); ``None`` or missing gives ``""`` if optional."""
    if type(value) is str:
        return value.strip() if trim else value
    if value is None:
        if required:
            raise RowInvalid("missing_field", field, f"{field} is missing")
        return ""
    raise RowInvalid("wrong_type", field, f"{field} must be a string, got {json_type(value)}")


def list_field(row: dict, key: str) -> list:
    value = row.get(key)
    if type(value) is list:
        if not value:
            raise RowInvalid("empty", f'"{key}"', f'"{key}" is empty')
        return value
    if value is None:
        raise RowInvalid("missing_field", f'"{key}"', f'"{key}" is missing')
    raise RowInvalid("wrong_type", f'"{key}"', f'"{key}" must be an array, got {json_type(value)}')


def tools_field(row: dict, key: str) -> list | None:
    """Function definitions given with a conversation: a list of objects, or its JSON text (as in
    glaive-style sharegpt data); a single object counts as a list of one. ``None`` when absent or empty."""
    value = row.get(key)
    field = f'"{key}"'
    if type(value) is str:
        if not value.strip():
            return None
        try:
            value = json.loads(value)
        except ValueError:
            raise RowInvalid(
                "wrong_type", field, f"{field} must be a JSON list of tool definitions"
            ) from None
    if type(value) is dict:
        value = [value]
    if value is None or value == []:
        return None
    if type(value) is not list or any(type(tool) is not dict for tool in value):
        text = f"{field} must be a list of tool definitions (objects), got {json_type(value)}"
        raise RowInvalid("wrong_type", field, text)
    return value


def conversation(system: str, messages: list[dict], tools: list | None) -> dict:
    """A canonical ``sft`` row: ``system`` and ``tools`` only when given."""
    out: dict = {"system": system} if system else {}
    if tools:
        out["tools"] = tools
    out["messages"] = messages
    return out


def _empty(field: str) -> RowInvalid:
    return RowInvalid("empty", field, f"{field} is empty")


def history_messages(value: object, key: str, trim: bool, drop_empty: bool) -> list[dict]:
    if type(value) is not list:
        raise RowInvalid("wrong_type", f'"{key}"', f'"{key}" must be an array of [user, assistant] pairs')
    messages = []
    for i, pair in enumerate(value):
        if type(pair) is not list or len(pair) != 2:
            raise RowInvalid("wrong_type", f'"{key}"[{i}]', f'"{key}"[{i}] must be a [user, assistant] pair')
        user = text_field(pair[0], f'"{key}"[{i}][0]', trim)
        reply = text_field(pair[1], f'"{key}"[{i}][1]', trim)
        if not user or not reply:
            if drop_empty:
                continue
            raise _empty(f'"{key}"[{i}][{0 if not user else 1}]')
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": reply})
    return messages


def alpaca(m: ColumnMapping, trim: bool, drop_empty: bool) -> Normaliser:
    prompt_field, query_field, response_field, system_field = (
        f'"{name}"' for name in (m.prompt, m.query, m.response, m.system)
    )

    def normalise(row: object) -> dict:
        if type(row) is not dict:
            raise not_an_object(row)
        instruction = text_field(row.get(m.prompt), prompt_field, trim)
        query = text_field(row.get(m.query), query_field, trim, required=False)
        output = text_field(row.get(m.response), response_field, trim)
        prompt = f"{instruction}\n{query}" if instruction and query else instruction or query
        if not prompt:
            raise _empty(prompt_field)
        if not output:
            raise _empty(response_field)
        history = row.get(m.history)
        messages = history_messages(history, m.history, trim, drop_empty) if history else []
        messages.append({"role": "user", "content": prompt})
        messages.append({"role": "assistant", "content": output})
        system = text_field(row.get(m.system), system_field, trim, required=False)
        return conversation(system, messages, tools_field(row, m.tools))

    return normalise


def sharegpt(m: ColumnMapping, trim: bool, drop_empty: bool) -> Normaliser:
    key, role_tag, content_tag, system_key = m.messages, m.role_tag, m.content_tag, m.system
    sides = (
        {m.user_tag: "user", m.observation_tag: "tool"},
        {m.assistant_tag: "assistant", m.function_tag: "function_call"},
    )
    side_names = (f"{m.user_tag}, {m.observation_tag}", f"{m.assistant_tag}, {m.function_tag}")
    all_tags = (m.user_tag, m.assistant_tag, m.system_tag, m.function_tag, m.observation_tag)
    all_names = ", ".join(all_tags)

    def bad_role(i: int, start: int, role: object) -> RowInvalid:
        field = f'"{key}"[{i}].{role_tag}'
        if role == m.system_tag:
            return RowInvalid("bad_order", field, f'{field} "{role}" is only allowed in the first message')
        if role in all_tags:
            want = side_names[(i - start) % 2]
            message = f'{field} must be one of {want} here (turns alternate), got "{role}"'
            return RowInvalid("bad_order", field, message)
        shown = json.dumps(role, ensure_ascii=False)
        return RowInvalid("invalid_value", field, f"{field} must be one of {all_names}, got {shown}")

    def normalise(row: object) -> dict:
        if type(row) is not dict:
            raise not_an_object(row)
        turns = list_field(row, key)
        system = ""
        start = 0
        first = turns[0]
        if type(first) is dict and first.get(role_tag) == m.system_tag:
            system = text_field(first.get(content_tag), f'"{key}"[0].{content_tag}', trim)
            start = 1
        messages = []
        has_empty = False
        for i in range(start, len(turns)):
            turn = turns[i]
            if type(turn) is not dict:
                field = f'"{key}"[{i}]'
                raise RowInvalid("wrong_type", field, f"{field} must be an object, got {json_type(turn)}")
            role = sides[(i - start) % 2].get(turn.get(role_tag))
            if role is None:
                raise bad_role(i, start, turn.get(role_tag))
            content = turn.get(content_tag)
            # Field paths are built only on the error path: this loop runs for every message.
            if type(content) is not str:
                text_field(content, f'"{key}"[{i}].{content_tag}', trim)
            if trim:
                content = content.strip()
            if not content:
                if not drop_empty:
                    raise _empty(f'"{key}"[{i}].{content_tag}')
                has_empty = True
            messages.append({"role": role, "content": content})
        if not messages or len(messages) % 2:
            raise RowInvalid("bad_order", f'"{key}"', f'"{key}" must end with a {m.assistant_tag} message')
        if has_empty:
            messages = _drop_empty_pairs(messages, key)
        if messages[-1]["role"] != "assistant":
            raise RowInvalid(
                "bad_order",
                f'"{key}"',
                f'"{key}" must end with a {m.assistant_tag} message, not {m.function_tag}',
            )
        if not system:
            system = text_field(row.get(system_key), f'"{system_key}"', trim, required=False)
        return conversation(system, messages, tools_field(row, m.tools))

    return normalise


def _drop_empty_pairs(messages: list[dict], key: str) -> list[dict]:
    """Remove each (user side, assistant side) exchange that has an empty message."""
    kept = []
    for i in range(0, len(messages), 2):
        if messages[i]["content"] and messages[i + 1]["content"]:
            kept += messages[i : i + 2]
    if not kept:
        raise RowInvalid("empty", f'"{key}"', f'"{key}" has no exchange without an empty message')
    return kept


def text(m: ColumnMapping, trim: bool, drop_empty: bool) -> Normaliser:
    key = m.text
    field = f'"{key}"'

    def normalise(row: object) -> dict:
        if type(row) is not dict:
            raise not_an_object(row)
        value = text_field(row.get(key), field, trim)
        if not value:
            raise _empty(field)
        return {"text": value}

    return normalise
