"""Preference (DPO) rows in every shape we accept, to one canonical ``preference`` row.

The prompt comes from, in this order: OpenAI's ``"input": {"messages": [...]}``, the mapped (or
``conversations``/``messages``) message list, alpaca-style ``instruction``/``input`` (+ ``history``), or a
TRL-style ``prompt`` (a string or a message list). The answers come from ``chosen``/``rejected``,
``preferred_output``/``non_preferred_output`` or ``preferred_completion``/``non_preferred_completion``;
each may be a string, an assistant message, or a list holding one assistant message.
"""

from __future__ import annotations

import dataclasses

from .chat import message_content, openai, prompt_messages
from .errors import RowInvalid
from .formats import ANSWER_KEYS, ColumnMapping
from .normalise import (
    Normaliser,
    conversation,
    history_messages,
    not_an_object,
    sharegpt,
    text_field,
    tools_field,
)
from .reader import json_type


def preference(m: ColumnMapping, trim: bool, drop_empty: bool) -> Normaliser:
    answer_keys = ((m.chosen, m.rejected), *ANSWER_KEYS)
    assistant_roles = ("assistant", m.assistant_tag)

    def prompt(row: dict) -> tuple[str, list[dict]]:
        given = row.get("input")
        if type(given) is dict:
            return prompt_messages(given.get("messages"), '"input".messages', m, trim, drop_empty)
        for key in (m.messages,) if m.messages else ("conversations", "messages"):
            if key in row:
                return prompt_messages(row[key], f'"{key}"', m, trim, drop_empty)
        if m.prompt in row:
            return "", alpaca_prompt(row)
        if "prompt" in row:
            value = row["prompt"]
            if type(value) is list:
                return prompt_messages(value, '"prompt"', m, trim, drop_empty)
            return "", [{"role": "user", "content": required(value, '"prompt"')}]
        field = f'"{m.prompt}"'
        text = (
            f'{field} is missing (a preference row needs a prompt: {field}, "messages" or "input".messages)'
        )
        raise RowInvalid("missing_field", field, text)

    def alpaca_prompt(row: dict) -> list[dict]:
        instruction = text_field(row.get(m.prompt), f'"{m.prompt}"', trim)
        query = text_field(row.get(m.query), f'"{m.query}"', trim, required=False)
        content = f"{instruction}\n{query}" if instruction and query else instruction or query
        if not content:
            raise RowInvalid("empty", f'"{m.prompt}"', f'"{m.prompt}" is empty')
        history = row.get(m.history)
        messages = history_messages(history, m.history, trim, drop_empty) if history else []
        messages.append({"role": "user", "content": content})
        return messages

    def answer(value: object, field: str) -> str:
        if type(value) is list:
            if len(value) != 1:
                text = f"{field} must hold exactly one assistant message, got {len(value)}"
                raise RowInvalid("wrong_type", field, text)
            value, field = value[0], f"{field}[0]"
        if type(value) is dict:
            role_key = "role" if "role" in value else m.role_tag
            if value.get(role_key) not in assistant_roles:
                text = f"{field}.{role_key} must be assistant"
                raise RowInvalid("invalid_value", f"{field}.{role_key}", text)
            content_key = "content" if "content" in value else m.content_tag
            return required(message_content(value, content_key, f"{field}.{content_key}", trim), field)
        if type(value) is not str and value is not None:
            text = f"{field} must be a string or an assistant message, got {json_type(value)}"
            raise RowInvalid("wrong_type", field, text)
        return required(value, field)

    def required(value: object, field: str) -> str:
        value = text_field(value, field, trim)
        if not value:
            raise RowInvalid("empty", field, f"{field} is empty")
        return value

    def normalise(row: object) -> dict:
        if type(row) is not dict:
            raise not_an_object(row)
        system, messages = prompt(row)
        chosen_key, rejected_key = next(
            (keys for keys in answer_keys if keys[0] in row or keys[1] in row), answer_keys[0]
        )
        chosen = answer(row.get(chosen_key), f'"{chosen_key}"')
        rejected = answer(row.get(rejected_key), f'"{rejected_key}"')
        if chosen == rejected:
            text = f'"{chosen_key}" and "{rejected_key}" are the same'
            raise RowInvalid("same_answers", f'"{rejected_key}"', text)
        if not system:
            system = text_field(row.get(m.system), f'"{m.system}"', trim, required=False)
        out = {"system": system} if system else {}
        out.update(messages=messages, chosen=chosen, rejected=rejected)
        return out

    return normalise


def kto(m: ColumnMapping, trim: bool, drop_empty: bool) -> Normaliser:
    """Unpaired preference (KTO) rows: one answer and a true/false ``label`` (desirable or not).

    The conversation is a message list (role/content or sharegpt tags) ending with the answer, or a TRL
    ``prompt`` (string or messages) with a ``completion`` (string or one assistant message). The canonical
    row is an ``sft`` conversation plus ``"label"``.
    """
    keys = (m.messages,) if m.messages else ("messages", "conversations")
    by_shape = {
        key: (
            sharegpt(dataclasses.replace(m, messages=key), trim, drop_empty),
            openai(dataclasses.replace(m, messages=key), trim, drop_empty),
        )
        for key in keys
    }
    label_field = f'"{m.label}"'
    completion_field = f'"{m.completion}"'

    def completion(value: object) -> str:
        field = completion_field
        if type(value) is list and len(value) == 1 and type(value[0]) is dict:
            value, field = value[0], f"{field}[0]"
        if type(value) is dict:
            if value.get("role", value.get(m.role_tag)) not in ("assistant", m.assistant_tag):
                raise RowInvalid("invalid_value", field, f"{field} must be an assistant message")
            content_key = "content" if "content" in value else m.content_tag
            value, field = message_content(value, content_key, f"{field}.{content_key}", trim), field
        text = text_field(value, field, trim)
        if not text:
            raise RowInvalid("empty", field, f"{field} is empty")
        return text

    def normalise(row: object) -> dict:
        if type(row) is not dict:
            raise not_an_object(row)
        label = row.get(m.label)
        if type(label) is not bool:
            kind = "missing_field" if label is None else "wrong_type"
            text = f"{label_field} must be true (a desirable answer) or false (an undesirable one)"
            raise RowInvalid(kind, label_field, text)
        key = next((key for key in keys if key in row), None)
        if key is not None and m.completion not in row:
            turns = row[key]
            first = turns[0] if type(turns) is list and turns and type(turns[0]) is dict else {}
            shared, plain = by_shape[key]
            out = (shared if m.role_tag in first else plain)(row)
        else:
            prompt_key = m.prompt if m.prompt in row else "prompt"
            value = row.get(prompt_key)
            if type(value) is list:
                system, messages = prompt_messages(value, f'"{prompt_key}"', m, trim, drop_empty)
            else:
                system, messages = (
                    "",
                    [{"role": "user", "content": _required(value, f'"{prompt_key}"', trim)}],
                )
            if not system:
                system = text_field(row.get(m.system), f'"{m.system}"', trim, required=False)
            messages.append({"role": "assistant", "content": completion(row.get(m.completion))})
            out = conversation(system, messages, tools_field(row, m.tools))
        out["label"] = label
        return out

    return normalise


def _required(value: object, field: str, trim: bool) -> str:
    text = text_field(value, field, trim)
    if not text:
        raise RowInvalid("empty", field, f"{field} is empty")
    return text
