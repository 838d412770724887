"""Reviewing pairs (accept, edit, reject, near-duplicates) and exporting the accepted ones as a dataset.

An export writes one training row per answer (alpaca or messages, with an optional system prompt) and
goes through the same ingest path as an upload (``processing.ingest_and_store``), so the dataset is
validated, counted and stored like any other. Each export is a new dataset, numbered as a version of the
knowledge base, and records exactly which pairs it holds.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max
from rapidfuzz import fuzz

from llm_platform.errors import Conflict, DomainError

from ..ingest import FileError
from ..models import Dataset
from ..processing import DEFAULT_OPTIONS, ingest_and_store
from .models import KnowledgeBase, KnowledgeExport, PairStatus, QAPair

LAYOUTS = ("alpaca", "messages")
DUPLICATE_THRESHOLD = 85
MAX_DUPLICATE_SCAN = 5000


def filter_pairs(queryset, params):
    """The list filters shared by the API and the portal: knowledge_base, document, status, flagged."""
    for name in ("knowledge_base", "document"):
        value = params.get(name)
        if value:
            if not str(value).isdigit():
                raise DomainError(f"{name} must be an id.", fields={name: [str(value)]})
            queryset = queryset.filter(**{f"{name}_id": int(value)})
    status = params.get("status")
    if status:
        if status not in PairStatus.values:
            raise DomainError(
                f"status must be one of {', '.join(PairStatus.values)}.", fields={"status": [status]}
            )
        queryset = queryset.filter(status=status)
    if params.get("flagged") in ("true", "1"):
        queryset = queryset.filter(flagged=True)
    return queryset


def update_pair(
    pair: QAPair, *, question: str | None = None, answers=None, status: str | None = None
) -> QAPair:
    if question is not None:
        if not question.strip():
            raise DomainError("The question must not be empty.", fields={"question": ["empty"]})
        pair.question = question.strip()
    if answers is not None:
        answers = [str(a).strip() for a in (answers if isinstance(answers, list) else [answers])]
        if not answers or not all(answers):
            raise DomainError("Give at least one answer, none empty.", fields={"answers": ["empty answer"]})
        pair.answers = answers
    if status is not None:
        if status not in PairStatus.values:
            raise DomainError(
                f"status must be one of {', '.join(PairStatus.values)}.", fields={"status": [status]}
            )
        pair.status = status
    pair.save()
    return pair


def accept_all(kb: KnowledgeBase, params=None) -> int:
    """Accept every pending pair of ``kb`` the filters select (document, flagged); returns how many."""
    pending = filter_pairs(kb.pairs.filter(status=PairStatus.PENDING), {**(params or {}), "status": ""})
    return pending.update(status=PairStatus.ACCEPTED)


def _normal(question: str) -> str:
    return re.sub(r"[\W_]+", " ", question.lower()).strip()


def duplicate_groups(kb: KnowledgeBase, threshold: int = DUPLICATE_THRESHOLD) -> list[list[QAPair]]:
    """Groups of non-rejected pairs whose questions are near-identical (rapidfuzz token-set ratio, CJK by
    character), the earliest first; a reviewer keeps one of each group."""
    pairs = list(kb.pairs.exclude(status=PairStatus.REJECTED).order_by("id")[:MAX_DUPLICATE_SCAN])
    texts = [_normal(p.question) for p in pairs]
    parent = list(range(len(pairs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(pairs)):
        for j in range(i + 1, len(pairs)):
            if fuzz.ratio(texts[i], texts[j]) >= threshold or fuzz.token_set_ratio(texts[i], texts[j]) >= 95:
                parent[root(j)] = root(i)
    groups: dict[int, list[QAPair]] = {}
    for index, pair in enumerate(pairs):
        groups.setdefault(root(index), []).append(pair)
    return [group for group in groups.values() if len(group) > 1]


def _rows(pairs, layout: str, system_prompt: str):
    for pair in pairs:
        for answer in pair.answers:
            if layout == "alpaca":
                row = {"instruction": pair.question, "input": "", "output": answer}
                if system_prompt:
                    row["system"] = system_prompt
            else:
                messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
                messages += [
                    {"role": "user", "content": pair.question},
                    {"role": "assistant", "content": answer},
                ]
                row = {"messages": messages}
            yield row


def export_pairs(
    kb: KnowledgeBase, user, *, layout: str = "alpaca", system_prompt: str = "", name: str = ""
) -> KnowledgeExport:
    """A new dataset version of ``kb``'s accepted pairs; raises Conflict when none is accepted."""
    if layout not in LAYOUTS:
        raise DomainError(f"layout must be one of {', '.join(LAYOUTS)}.", fields={"layout": [layout]})
    pairs = list(kb.pairs.filter(status=PairStatus.ACCEPTED).order_by("id"))
    if not pairs:
        raise Conflict(f'"{kb.name}" has no accepted pairs to export; accept some first.')
    system_prompt = (system_prompt or "").strip()
    version = (kb.exports.aggregate(last=Max("version"))["last"] or 0) + 1
    filename = f"{re.sub(r'[^A-Za-z0-9._-]+', '-', kb.name).strip('-') or 'knowledge'}-qa-v{version}.jsonl"
    dataset = Dataset(
        organization_id=kb.organization_id,
        created_by=user if isinstance(user, get_user_model()) else None,
        name=((name or "").strip() or f"{kb.name} QA v{version}")[:200],
        description=f'Accepted question-answer pairs of the knowledge base "{kb.name}", export {version}.',
        original_filename=filename,
        requested_format="alpaca" if layout == "alpaca" else "openai",
        options={**DEFAULT_OPTIONS, "dedupe": False, "knowledge_base": kb.pk},
    )
    with tempfile.TemporaryDirectory(prefix="tf-kb-export-") as work:
        path = Path(work) / filename
        with open(path, "w", encoding="utf-8") as handle:
            for row in _rows(pairs, layout, system_prompt):
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        dataset.size_bytes = path.stat().st_size
        with transaction.atomic():
            try:
                ingest_and_store(dataset, path)
            except FileError as exc:
                raise DomainError(f"The export was refused by ingest: {exc.message}", code=exc.code) from None
            export = KnowledgeExport.objects.create(
                organization_id=kb.organization_id,
                knowledge_base=kb,
                dataset=dataset,
                version=version,
                layout=layout,
                system_prompt=system_prompt,
            )
            export.pairs.set(pairs)
    return export
