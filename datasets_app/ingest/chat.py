"""OpenAI chat rows, and message lists in either shape (role/content or sharegpt tags) for prompts."""

from __future__ import annotations

import contextlib
import json

from .errors import RowInvalid
from .formats import ColumnMapping
from .normalise import Normaliser, conversation, list_field, not_an_object, text_field, tools_field
from .reader import json_type

OPENAI_ROLES = ("system", "user", "assistant", "tool")
_SYSTEM_ROLES = ("system", "developer")


def message_content(message: dict, key: str, field: str, trim: bool) -> str:
    """``message[key]`` as text; OpenAI's list of ``{"type": "text", "text": ...}`` parts is joined."""
    content = message.get(key)
    if type(content) is list:
        parts = []
        for j, part in enumerate(content):
            if type(part) is not dict or part.get("type") != "text" or type(part.get("text")) is not str:
                raise RowInvalid("wrong_type", f"{field}[{j}]", f"{field}[{j}] must be a text part")
            parts.append(part["text"])
        content = "".join(parts)
    return text_field(content, field, trim)


def tool_calls_text(calls: object, field: str) -> str:
    """OpenAI ``tool_calls`` as the JSON text of a canonical ``function_call`` message."""
    if type(calls) is not list or not calls:
        raise RowInvalid("wrong_type", field, f"{field} must be a non-empty array")
    out = []
    for j, call in enumerate(calls):
        function = call.get("function") if type(call) is dict else None
        if type(function) is not dict or type(function.get("name")) is not str:
            raise RowInvalid("wrong_type", f"{field}[{j}]", f'{field}[{j}].function must have a "name"')
        arguments = function.get("arguments", {})
        if type(arguments) is str:
            with contextlib.suppress(ValueError):
                arguments = json.loads(arguments)
        out.append({"name": function["name"], "arguments": arguments})
    return json.dumps(out[0] if len(out) == 1 else out, ensure_ascii=False)


def openai(m: ColumnMapping, trim: bool, drop_empty: bool) -> Normaliser:
    key = m.messages

    def normalise(row: object) -> dict:
        if type(row) is not dict:
            raise not_an_object(row)
        system = ""
        messages: list[dict] = []
        for i, message in enumerate(list_field(row, key)):
            field = f'"{key}"[{i}]'
            if type(message) is not dict:
                raise RowInvalid("wrong_type", field, f"{field} must be an object, got {json_type(message)}")
            role = message.get("role")
            if role in _SYSTEM_ROLES:
                if i:
                    text = f'{field}.role "{role}" is only allowed in the first message'
                    raise RowInvalid("bad_order", f"{field}.role", text)
                system = message_content(message, "content", f"{field}.content", trim)
                continue
            if role not in OPENAI_ROLES:
                shown = json.dumps(role, ensure_ascii=False)
                text = f"{field}.role must be one of {', '.join(OPENAI_ROLES)}, got {shown}"
                raise RowInvalid("invalid_value", f"{field}.role", text)
            weight = message.get("weight")
            if weight is not None:
                _check_weight(weight, role, f"{field}.weight")
            if role == "assistant" and message.get("tool_calls"):
                content = tool_calls_text(message["tool_calls"], f"{field}.tool_calls")
                messages.append({"role": "function_call", "content": content})
                continue
            content = message_content(message, "content", f"{field}.content", trim)
            if not content:
                if drop_empty:
                    continue
                raise RowInvalid("empty", f"{field}.content", f"{field}.content is empty")
            entry = {"role": role, "content": content}
            if weight == 0:
                entry["weight"] = 0
            messages.append(entry)
        _check_conversation(messages, key)
        return conversation(system, messages, tools_field(row, m.tools))

    return normalise


def _check_weight(weight: object, role: str, field: str) -> None:
    if role != "assistant":
        raise RowInvalid("invalid_value", field, f"{field} is only allowed on assistant messages")
    if type(weight) is not int or weight not in (0, 1):
        shown = json.dumps(weight, ensure_ascii=False)
        raise RowInvalid("invalid_value", field, f"{field} must be 0 or 1, got {shown}")


def _check_conversation(messages: list[dict], key: str) -> None:
    field = f'"{key}"'
    if not messages or messages[-1]["role"] != "assistant":
        raise RowInvalid("bad_order", field, f"{field} must end with an assistant message")
    if messages[0]["role"] != "user":
        text = f"{field} must start with a user message (after an optional system message)"
        raise RowInvalid("bad_order", field, text)
    for message in messages:
        if message["role"] == "assistant" and "weight" not in message:
            return
    raise RowInvalid("no_target", field, f"{field} has no assistant message with weight 1")


def prompt_messages(
    turns: object, path: str, m: ColumnMapping, trim: bool, drop_empty: bool
) -> tuple[str, list[dict]]:
    """A preference prompt: messages with role/content or sharegpt tags, ending with a user message.

    ``path`` is the display path of the list (``"conversations"``, ``"input".messages``).
    """
    if type(turns) is not list or not turns:
        kind = "empty" if turns == [] else "missing_field" if turns is None else "wrong_type"
        raise RowInvalid(kind, path, f"{path} must be a non-empty array of messages")
    tag_roles = {
        m.user_tag: "user",
        m.assistant_tag: "assistant",
        m.observation_tag: "tool",
        m.function_tag: "function_call",
        m.system_tag: "system",
    }
    system = ""
    messages = []
    for i, message in enumerate(turns):
        field = f"{path}[{i}]"
        if type(message) is not dict:
            raise RowInvalid("wrong_type", field, f"{field} must be an object, got {json_type(message)}")
        if m.role_tag in message:
            role_key, content_key, role = m.role_tag, m.content_tag, tag_roles.get(message[m.role_tag])
            names = ", ".join(tag_roles)
        else:
            role_key, content_key = "role", "content"
            role = message.get("role") if message.get("role") in OPENAI_ROLES else None
            names = ", ".join(OPENAI_ROLES)
        if role is None:
            shown = json.dumps(message.get(role_key), ensure_ascii=False)
            text = f"{field}.{role_key} must be one of {names}, got {shown}"
            raise RowInvalid("invalid_value", f"{field}.{role_key}", text)
        content = message_content(message, content_key, f"{field}.{content_key}", trim)
        if role == "system":
            if i:
                text = f"{field}.{role_key} system is only allowed in the first message"
                raise RowInvalid("bad_order", f"{field}.{role_key}", text)
            system = content
        elif content:
            messages.append({"role": role, "content": content})
        elif not drop_empty:
            raise RowInvalid("empty", f"{field}.{content_key}", f"{field}.{content_key} is empty")
    if not messages or messages[-1]["role"] != "user":
        raise RowInvalid("bad_order", path, f"{path} (the prompt) must end with a user message")
    return system, messages
