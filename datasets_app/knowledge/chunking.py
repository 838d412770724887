"""Cutting a parsed document into chunks of about ``target`` tokens, on headings, paragraphs and sentences.

A chunk never spans two heading sections; within one, whole paragraphs are packed together, and a
paragraph longer than the target is cut between sentences (English ``.!?`` and Chinese ``。！？；``). The
last sentences of a chunk (up to ``overlap`` tokens) open the next one, so an answer that straddles a cut
is whole in one of them. Tokens are counted with the chosen base model's tokenizer, or estimated (one per
CJK character, one per four other characters) when none is chosen.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

SENTENCE_END = re.compile(r"(?<=[。！？；!?])|(?<=[.])(?=\s)")
CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


@dataclass
class Piece:
    start: int
    end: int
    page: int | None
    headings: list[str]
    tokens: int
    heading: bool = False


@dataclass
class ChunkSpec:
    start: int
    end: int
    text: str
    page: int | None
    headings: list[str]
    tokens: int


def estimate_tokens(text: str) -> int:
    cjk = len(CJK.findall(text))
    return cjk + max(0, len(text) - cjk) // 4 + (1 if text else 0)


def tokenizer_counter(tokenizer) -> Callable[[str], int]:
    """A token counter from a Hugging Face tokenizer (special tokens not counted)."""
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def sentences(text: str, offset: int) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text``, shifted by ``offset``; whitespace between is dropped."""
    spans, start = [], 0
    for match in SENTENCE_END.finditer(text):
        end = match.start()
        if end > start:
            spans.append((start, end))
            start = end
    spans.append((start, len(text)))
    result = []
    for begin, end in spans:
        piece = text[begin:end]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        if end - trail > begin + lead:
            result.append((offset + begin + lead, offset + end - trail))
    return result


def _pieces(text: str, sections: list[dict], target: int, count: Callable[[str], int]) -> list[Piece]:
    pieces = []
    for section in sections:
        start, end = section["start"], section["end"]
        headings = section["headings"] + ([text[start:end]] if section["role"] == "heading" else [])
        tokens = count(text[start:end])
        if tokens <= target:
            pieces.append(Piece(start, end, section["page"], headings, tokens, section["role"] == "heading"))
            continue
        for begin, finish in sentences(text[start:end], start):
            pieces.append(Piece(begin, finish, section["page"], headings, count(text[begin:finish])))
    return pieces


def chunk_document(
    text: str,
    sections: list[dict],
    *,
    target: int,
    overlap: int,
    count: Callable[[str], int] = estimate_tokens,
) -> list[ChunkSpec]:
    """The chunks of one document, in order, each with its offsets, first page and heading path."""
    target = max(1, target)
    overlap = max(0, min(overlap, target // 2))
    chunks: list[ChunkSpec] = []
    group: list[Piece] = []
    fresh = False  # the group holds body text not yet written in a chunk

    def emit() -> None:
        start, end = group[0].start, group[-1].end
        tokens = sum(p.tokens for p in group)
        chunks.append(ChunkSpec(start, end, text[start:end], group[0].page, group[0].headings, tokens))

    for piece in _pieces(text, sections, target, count):
        section_changed = bool(group) and piece.headings != group[-1].headings
        if group and fresh and (section_changed or sum(p.tokens for p in group) + piece.tokens > target):
            emit()
            kept: list[Piece] = []
            if not section_changed:
                for previous in reversed(group):
                    if sum(p.tokens for p in kept) + previous.tokens > overlap:
                        break
                    kept.insert(0, previous)
            group, fresh = kept, False
        elif group and section_changed:
            group = []
        group.append(piece)
        fresh = fresh or not piece.heading  # a heading alone is no chunk: it opens the next one
    if group and fresh:
        emit()
    return chunks
