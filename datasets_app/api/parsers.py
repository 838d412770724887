"""Multipart uploads whose file names are checked as sent, before Django strips any path from them.

Django keeps only the last path component of an upload's name (``../../x.jsonl`` becomes ``x.jsonl``)
and drops control characters. We would rather refuse such a name than guess: a client that sends one
gets a 400 ``bad_filename`` that says what is wrong.
"""

from __future__ import annotations

import html

from django.conf import settings
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, MultiPartParser

from ..errors import UploadRejected, shown_name
from ..ingest import FileError, safe_filename


class _StrictNameParser(DjangoMultiPartParser):
    def sanitize_file_name(self, file_name):
        raw = html.unescape(file_name)
        try:
            safe_filename(raw)
        except FileError as exc:
            raise UploadRejected(exc, shown_name(raw)) from None
        return super().sanitize_file_name(file_name)


class UploadParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context["request"]
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        try:
            data, files = _StrictNameParser(meta, stream, request.upload_handlers, encoding).parse()
        except MultiPartParserError as exc:
            raise ParseError(f"Multipart form parse error - {exc}") from exc
        return DataAndFiles(data, files)
