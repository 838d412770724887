"""One guard for what a request sends: JSON bodies, and whole numbers in query strings and paths.

Every API (ours, the Bisheng-compatible one, the OpenAI-compatible gateway) and the portal read their input
through here, so a value that cannot be what the field expects is refused the same way everywhere: a
``BadInput`` that names the field, which each API turns into a 400 in its own error shape. What it refuses
would otherwise surface deep inside as a 500:

- JSON with an escaped lone surrogate (``"\\ud800"``): Python keeps it, UTF-8 cannot encode it, so the
  database driver or the answer's encoder fails later;
- numbers no column or engine holds: integers beyond 64 bits (and 5,000-digit ones, which Python refuses
  to convert at all), floats that overflow to infinity, ``NaN``/``Infinity``;
- nesting deeper than ``MAX_DEPTH`` (100,000 levels is a RecursionError in the parser or in whatever walks
  the result next);
- a body that is a list, a string or a number where an object is expected;
- ids and page numbers written with non-ASCII digits (``"²".isdigit()`` is true, ``int("²")`` fails) or
  beyond 64 bits (SQLite and PostgreSQL overflow on OFFSET or on a pk).
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

MAX_DEPTH = 64  # a chat request with tool schemas nests ~10 levels; nothing we take comes close to 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# The largest value an IntegerField column holds on every database we run on (PostgreSQL's ``integer``).
COLUMN_INT_MAX = 2**31 - 1
MAX_PAGE = 10**9  # far past any real list; keeps OFFSET well inside every database's 64-bit range
BODY = "body"  # the field named when the request body as a whole is wrong
_WHOLE = re.compile(r"[+-]?[0-9]{1,19}")  # ASCII digits only; 19 digits cover every 64-bit value


class BadInput(ValueError):
    """``field`` (a dotted path such as ``datasets[0].num_samples``) cannot be what it should be."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class _Refused:
    """What the JSON parser leaves where a number cannot be kept; the walk then names its field."""

    def __init__(self, reason: str):
        self.reason = reason


def _parse_int(text: str) -> int | _Refused:
    if len(text.lstrip("-")) > 19 or not INT64_MIN <= int(text) <= INT64_MAX:
        return _Refused(f"{_shown(text)} is beyond 64 bits ({INT64_MIN} to {INT64_MAX})")
    return int(text)


def _parse_float(text: str) -> float | _Refused:
    value = float(text)
    return value if math.isfinite(value) else _Refused(f"{_shown(text)} is too large for a number")


def _parse_constant(text: str) -> _Refused:
    return _Refused(f"{text} is not a number JSON allows")


def _shown(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)} digits)"


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]" if parent else f"[{key}]"
    return f"{parent}.{key}" if parent else key


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check(data: Any, field: str = "") -> None:
    """Raise BadInput for the first value under ``data`` that no part of the platform can hold.

    Iterative (a stack, not recursion), so any depth the parser produced is walked safely.
    """
    stack: list[tuple[Any, str, int]] = [(data, field, 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadInput(path or BODY, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, _Refused):
            raise BadInput(path or BODY, value.reason)
        if isinstance(value, str):
            if _has_surrogate(value):
                raise BadInput(path or BODY, "contains a lone UTF-16 surrogate (\\ud800-\\udfff), not text")
        elif isinstance(value, dict):
            for key, item in value.items():
                if _has_surrogate(key):
                    raise BadInput(path or BODY, "has a key with a lone UTF-16 surrogate, not text")
                stack.append((item, _path(path, key), depth + 1))
        elif isinstance(value, list):
            stack.extend((item, _path(path, index), depth + 1) for index, item in enumerate(value))


def loads(raw: bytes | str, *, field: str = BODY, want_object: bool = True) -> Any:
    """JSON text as Python data, refused (BadInput naming ``field`` or the value's path) if unsafe."""
    try:
        data = json.loads(raw, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except RecursionError:
        raise BadInput(field, f"nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise BadInput(field, "is not UTF-8 text") from None
    except ValueError as exc:
        raise BadInput(field, f"is not valid JSON: {exc}") from None
    if want_object and not isinstance(data, dict):
        raise BadInput(field, f"must be a JSON object, not {json_type(data)}")
    check(data, "" if field == BODY else field)
    return data


def json_type(value: Any) -> str:
    if isinstance(value, _Refused):
        return "a number"
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


def whole_number(
    raw: str | int | None, field: str, *, minimum: int = INT64_MIN, maximum: int = INT64_MAX
) -> int:
    """``raw`` (a query or path value, or a JSON number) as an int in [minimum, maximum], else BadInput."""
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise BadInput(field, "must be a whole number")
    if isinstance(raw, str):
        text = raw.strip()
        if not _WHOLE.fullmatch(text):
            raise BadInput(field, f"must be a whole number written with the digits 0-9, not {_shown(text)!r}")
        raw = int(text)
    if not minimum <= raw <= maximum:
        raise BadInput(field, f"must be between {minimum} and {maximum}")
    return raw


def as_id(value: Any) -> int | None:
    """The database id ``value`` spells (a positive int, or ASCII digits within 64 bits), else None.

    For lookups that also accept a uid or a name: anything that is not an id is then tried as one of those.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 19):
            return None
        value = int(text)
    return value if isinstance(value, int) and 1 <= value <= INT64_MAX else None


def optional_datetime(raw: str | None, field: str):
    """An ISO 8601 date or date-time from a query string (UTC when no zone is given), None when blank."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(
            field, f"must be a date or date-time like 2026-01-31T12:00, not {_shown(text)!r}"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
