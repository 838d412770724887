"""``ingest()``: one streaming pass from an upload to a canonical JSON-lines file and its statistics.

decode -> parse -> detect the format (from the first rows) -> validate and normalise each row -> clean
(length limit, exact duplicates) -> write -> stats. The output appears only when everything succeeded.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from . import chat, normalise, preference, turns
from .errors import (
    EMPTY_FILE,
    INVALID_OPTIONS,
    INVALID_ROW,
    NO_ROWS,
    TOO_MANY_BAD_ROWS,
    FileError,
    RowError,
    RowInvalid,
)
from .files import file_extension, safe_filename
from .formats import DETECT_ROWS, KIND_OF_FORMAT, ColumnMapping, check_format, resolve_format, used_keys
from .output import AtomicOutput, encode_row
from .reader import Source
from .stats import Stats, row_pieces, token_counter
from .textdocs import RULES, TEXT_SPLITS

POLICIES = ("drop", "reject")
MAX_ERRORS_KEPT = 100
_NORMALISERS = {
    "alpaca": normalise.alpaca,
    "sharegpt": normalise.sharegpt,
    "openai": chat.openai,
    "turns": turns.turns,
    "preference": preference.preference,
    "kto": preference.kto,
    "text": normalise.text,
}
FILLABLE = frozenset({"name", "author"})  # placeholders a training job fills (its name and author fields)
_FILLABLE_BYTES = re.compile(rb"\{\{\s*(name|author)\s*\}\}")

Progress = Callable[[int, int, int], None]
"""Called as ``progress(bytes_done, bytes_total, rows_read)``; bytes are of the file on disk."""


@dataclass(frozen=True)
class IngestOptions:
    """How strict to be and what to clean.

    policy: ``drop`` drops bad rows and reports them, but refuses the file when more than
        ``max_bad_ratio`` of its rows are bad; ``reject`` refuses the file at the first bad row.
    max_sample_chars: rows with more characters than this (all texts together) are dropped
        (reason ``too_long``); ``None`` for no limit.
    max_unpacked_bytes, max_compression_ratio: what a compressed file may unpack to, in bytes
        (``None``: ``max_file_bytes``) and as a multiple of its compressed size (``None``: no limit).
    work_budget_bytes: read more than this and :class:`OverBudget` is raised (the caller hands the file
        to a background worker); ``None`` for no budget.
    cancelled: asked between chunks; once it answers true the ingest stops with ``FileError(cancelled)``.
    text_split: how a ``.txt`` file is cut into documents (see :mod:`.textdocs`).
    """

    policy: str = "drop"
    max_bad_ratio: float = 0.10
    trim_whitespace: bool = True
    drop_empty_turns: bool = True
    dedupe: bool = True
    max_sample_chars: int | None = None
    max_file_bytes: int = 2 * 1024**3
    max_line_bytes: int = 16 * 1024**2
    max_unpacked_bytes: int | None = None
    max_compression_ratio: float | None = 100.0
    work_budget_bytes: int | None = None
    cancelled: Callable[[], bool] | None = None
    progress_every: int = 10_000
    text_split: str = "auto"

    def check(self) -> None:
        if self.text_split not in TEXT_SPLITS:
            allowed = ", ".join(TEXT_SPLITS)
            raise FileError(INVALID_OPTIONS, f'text_split must be one of {allowed}, got "{self.text_split}"')
        if self.policy not in POLICIES:
            raise FileError(
                INVALID_OPTIONS, f'policy must be one of {", ".join(POLICIES)}, got "{self.policy}"'
            )
        if not 0 <= self.max_bad_ratio <= 1:
            raise FileError(INVALID_OPTIONS, "max_bad_ratio must be between 0 and 1")
        if self.max_sample_chars is not None and self.max_sample_chars < 1:
            raise FileError(INVALID_OPTIONS, "max_sample_chars must be at least 1")
        if min(self.max_file_bytes, self.max_line_bytes, self.progress_every) < 1:
            raise FileError(INVALID_OPTIONS, "size limits and progress_every must be positive")
        if (self.max_unpacked_bytes is not None and self.max_unpacked_bytes < 1) or (
            self.max_compression_ratio is not None and self.max_compression_ratio < 1
        ):
            raise FileError(
                INVALID_OPTIONS, "max_unpacked_bytes and max_compression_ratio must be at least 1"
            )


@dataclass
class IngestResult:
    kind: str  # sft | preference | kto | text
    format: str  # one of FORMATS
    rows_in: int
    rows_out: int
    stats: dict
    errors: list[RowError] = field(default_factory=list)  # the first 100
    error_counts: dict[str, int] = field(default_factory=dict)  # by RowError.kind
    dropped_by_reason: dict[str, int] = field(default_factory=dict)  # invalid | duplicate | too_long

    @property
    def bad_rows(self) -> int:
        return sum(self.error_counts.values())

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "format": self.format,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "stats": self.stats,
            "errors": [error.to_dict() for error in self.errors],
            "error_counts": self.error_counts,
            "dropped_by_reason": self.dropped_by_reason,
        }


class _Errors:
    def __init__(self, reject: bool):
        self.reject = reject
        self.kept: list[RowError] = []
        self.counts: dict[str, int] = {}
        self.total = 0

    def add(self, line: int, item: int | None, exc: RowInvalid) -> None:
        error = RowError(line, item, exc.kind, exc.field, exc.message)
        if self.reject:
            raise FileError(INVALID_ROW, str(error), line=line)
        self.total += 1
        self.counts[exc.kind] = self.counts.get(exc.kind, 0) + 1
        if len(self.kept) < MAX_ERRORS_KEPT:
            self.kept.append(error)


class _Found:
    """What the rows hold beyond their canonical content: fields the format does not read (reported as
    ignored, never dropped silently) and placeholders a training job fills."""

    def __init__(self, used: frozenset[str]):
        self.used = used
        self.ignored: dict[str, int] = {}
        self.placeholders: set[str] = set()
        self.placeholder_rows = 0

    def summary(self) -> dict:
        ignored = sorted(self.ignored.items(), key=lambda item: (-item[1], item[0]))
        return {
            "ignored_fields": dict(ignored),
            "placeholders": sorted(self.placeholders),
            "placeholder_rows": self.placeholder_rows,
        }


def ingest(
    src_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    filename: str,
    format: str | None = None,
    mapping: dict | ColumnMapping | None = None,
    options: IngestOptions | None = None,
    progress: Progress | None = None,
    tokenizer: object = None,
) -> IngestResult:
    """Validate and normalise the upload at ``src_path`` (named ``filename`` by the user) into the
    canonical JSON-lines file ``out_path``. Raises :class:`FileError` when the file is refused; then
    ``out_path`` is not created (nor is any temporary file left beside it)."""
    options = options or IngestOptions()
    options.check()
    ext = file_extension(safe_filename(filename))
    fmt = check_format(format)
    columns = mapping if isinstance(mapping, ColumnMapping) else ColumnMapping.from_dict(mapping)
    if ext == ".txt":
        if fmt not in (None, "text"):
            raise FileError(INVALID_OPTIONS, f'a .txt file holds plain-text documents; it cannot be "{fmt}"')
        fmt, columns = "text", ColumnMapping()
    with Source(
        src_path,
        ext,
        max_file_bytes=options.max_file_bytes,
        max_line_bytes=options.max_line_bytes,
        max_unpacked_bytes=options.max_unpacked_bytes,
        max_ratio=options.max_compression_ratio,
        work_budget_bytes=options.work_budget_bytes,
        cancelled=options.cancelled,
        text_split=options.text_split,
    ) as source:
        records = source.records()
        head = list(itertools.islice(records, DETECT_ROWS))
        if not head:
            raise FileError(EMPTY_FILE, "the file has no rows")
        fmt, columns = resolve_format(fmt, columns, (value for _, _, value in head))
        kind = KIND_OF_FORMAT[fmt]
        normaliser = _NORMALISERS[fmt](columns, options.trim_whitespace, options.drop_empty_turns)
        stats = Stats(kind, token_counter(tokenizer))
        errors = _Errors(options.policy == "reject")
        found = _Found(used_keys(fmt, columns) if ext != ".txt" else frozenset({"text"}))
        with AtomicOutput(out_path) as out:
            counts = _run(
                itertools.chain(head, records),
                normaliser,
                out,
                stats,
                errors,
                options,
                source,
                progress,
                found,
            )
            _check_outcome(counts, errors, options)
    rows_in, duplicates, too_long = counts
    dropped = {"invalid": errors.total, "duplicate": duplicates, "too_long": too_long}
    summary = stats.summary()
    summary.update(rows_in=rows_in, duplicates_removed=duplicates, dropped_by_reason=dropped)
    summary.update(found.summary(), dedupe=options.dedupe)
    if ext == ".txt":
        summary["text_split"] = {"chosen": options.text_split, "rule": source.text_rule}
        summary["text_split"]["description"] = RULES[source.text_rule]
    return IngestResult(
        kind=kind,
        format=fmt,
        rows_in=rows_in,
        rows_out=stats.rows,
        stats=summary,
        errors=errors.kept,
        error_counts=errors.counts,
        dropped_by_reason=dropped,
    )


def _run(records, normaliser, out, stats, errors, options, source, progress, found) -> tuple[int, int, int]:
    """The hot loop. Returns (rows read, duplicates dropped, too-long rows dropped)."""
    write = out.write
    add_stats = stats.add
    max_chars = options.max_sample_chars
    seen: set[bytes] | None = set() if options.dedupe else None
    blake2b = hashlib.blake2b
    every = options.progress_every
    used, ignored = found.used, found.ignored
    rows_in = duplicates = too_long = 0
    for line, item, value in records:
        rows_in += 1
        if progress is not None and rows_in % every == 0:
            progress(source.position(), source.total_bytes, rows_in)
        try:
            row = normaliser(value)
        except RowInvalid as exc:
            errors.add(line, item, exc)
            continue
        extra = value.keys() - used
        if extra:
            for key in extra:
                ignored[key] = ignored.get(key, 0) + 1
        pieces = row_pieces(row)
        if max_chars is not None and sum(len(text) for _, text in pieces) > max_chars:
            too_long += 1
            continue
        try:
            data = (encode_row(row) + "\n").encode()
        except UnicodeEncodeError as exc:  # a JSON escape of half a surrogate pair ("\ud800")
            errors.add(line, item, _lone_surrogate(exc))
            continue
        if seen is not None:
            digest = blake2b(data, digest_size=16).digest()
            if digest in seen:
                duplicates += 1
                continue
            seen.add(digest)
        if b"{{" in data:
            names = _FILLABLE_BYTES.findall(data)
            if names:
                found.placeholders.update(name.decode() for name in names)
                found.placeholder_rows += 1
        write(data)
        add_stats(row, pieces)
    if progress is not None:
        progress(source.total_bytes, source.total_bytes, rows_in)
    return rows_in, duplicates, too_long


def _lone_surrogate(exc: UnicodeEncodeError) -> RowInvalid:
    code = ord(exc.object[exc.start])
    return RowInvalid(
        "invalid_unicode",
        None,
        f"a text holds a lone surrogate escape (\\u{code:04x}), which is not valid Unicode; "
        "write the character itself or a complete surrogate pair",
    )


def _check_outcome(counts: tuple[int, int, int], errors: _Errors, options: IngestOptions) -> None:
    rows_in, duplicates, too_long = counts
    bad = errors.total
    if bad and bad / rows_in > options.max_bad_ratio:
        first = errors.kept[0]
        raise FileError(
            TOO_MANY_BAD_ROWS,
            f"{bad} of {rows_in} rows ({100 * bad / rows_in:.1f}%) are invalid, over the limit of "
            f"{100 * options.max_bad_ratio:g}%; the first: {first}",
            line=first.line,
        )
    if rows_in == bad + duplicates + too_long:
        reasons = {"invalid": bad, "too long": too_long, "duplicates": duplicates}
        why = ", ".join(f"{n} {reason}" for reason, n in reasons.items() if n)
        raise FileError(NO_ROWS, f"no rows are left after cleaning ({why})")
