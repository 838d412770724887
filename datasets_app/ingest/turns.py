"""Conversations stored as a list of alternating strings, user first (HuatuoGPT's shape):

``{"data": ["问：...", "答：...", "问：...", "答：..."]}``. Role prefixes such as ``问：``/``答：``,
``User:``/``Assistant:`` and ``Human:``/``Assistant:`` are stripped; a turn that carries the other side's
prefix is a row error (the turns do not alternate).
"""

from __future__ import annotations

import re

from .errors import RowInvalid
from .formats import ColumnMapping
from .normalise import Normaliser, conversation, not_an_object, text_field
from .reader import json_type

_USER = r"问|用户|user|human"
_ASSISTANT = r"答|助手|assistant"
# One pattern for both sides: the group that matched tells the side, so a turn is scanned once.
_PREFIX = re.compile(rf"\s*(?:(?P<user>{_USER})|(?P<assistant>{_ASSISTANT}))\s*[:：]\s*", re.IGNORECASE)
SIDES = ("user", "assistant")


def turns(m: ColumnMapping, trim: bool, drop_empty: bool) -> Normaliser:
    key = m.messages or "data"
    field = f'"{key}"'
    match = _PREFIX.match

    def normalise(row: object) -> dict:
        if type(row) is not dict:
            raise not_an_object(row)
        value = row.get(key)
        if type(value) is not list or not value:
            kind = "missing_field" if value is None else "empty" if value == [] else "wrong_type"
            raise RowInvalid(
                kind, field, f"{field} must be a list of alternating turns (strings), user first"
            )
        messages = []
        for i, text in enumerate(value):
            if type(text) is not str:
                where = f"{field}[{i}]"
                raise RowInvalid("wrong_type", where, f"{where} must be a string, got {json_type(text)}")
            role = SIDES[i % 2]
            prefix = match(text)
            if prefix is not None:
                if prefix.lastgroup != role:
                    where = f"{field}[{i}]"
                    text = f"{where} starts with a {prefix.lastgroup} prefix where the {role} speaks (turns alternate, user first)"
                    raise RowInvalid("bad_order", where, text)
                text = text[prefix.end() :]
            if trim:
                text = text.strip()
            messages.append({"role": role, "content": text})
        if len(messages) % 2:
            raise RowInvalid(
                "bad_order", field, f"{field} must end with an assistant turn (an even number of turns)"
            )
        kept = [
            pair
            for pair in zip(messages[::2], messages[1::2], strict=True)
            if pair[0]["content"] and pair[1]["content"]
        ]
        if len(kept) * 2 != len(messages):
            if not drop_empty:
                first = next(i for i, message in enumerate(messages) if not message["content"])
                raise RowInvalid("empty", f"{field}[{first}]", f"{field}[{first}] is empty")
            if not kept:
                raise RowInvalid("empty", field, f"{field} has no exchange without an empty turn")
            messages = [message for pair in kept for message in pair]
        system = text_field(row.get(m.system), f'"{m.system}"', trim, required=False)
        return conversation(system, messages, None)

    return normalise
