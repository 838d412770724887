"""The JSON parser of every DRF view (our API and the Bisheng-compatible one): ``llm_platform.input``'s
guard, answering a 400 that names the field instead of letting the value fail deeper down as a 500."""

from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser

from llm_platform import input_guard


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        if not raw:
            return {}
        try:
            return input_guard.loads(raw.decode(encoding, errors="surrogatepass"))
        except (input_guard.BadInput, UnicodeDecodeError, LookupError) as exc:
            field, message = getattr(exc, "field", input_guard.BODY), getattr(exc, "message", str(exc))
            raise ValidationError({field: [message]}) from None
