"""What a job's page and the compare page show of its results: evaluation scores (tuned and base) and,
for preference training, the reward metrics TRL logs with each loss."""

from __future__ import annotations

from collections.abc import Iterable

REPORT_KEYS = [
    ("eval_loss", "Eval loss"),
    ("perplexity", "Perplexity"),
    ("bleu_4", "BLEU-4"),
    ("rouge_1", "ROUGE-1"),
    ("rouge_2", "ROUGE-2"),
    ("rouge_l", "ROUGE-L"),
    ("exact_match", "Exact match"),
]
# DPOTrainer's per-log means (a metric event's "extra"): how often and by how much the tuned model
# prefers the chosen answer over the rejected one, relative to the reference model.
PREFERENCE_KEYS = [
    ("rewards/accuracies", "Reward accuracy"),
    ("rewards/margins", "Reward margin"),
    ("rewards/chosen", "Reward of chosen"),
    ("rewards/rejected", "Reward of rejected"),
]


def report_rows(report: dict, base: dict) -> list[tuple[str, object, object]]:
    return [
        (label, report.get(key), (base or {}).get(key)) for key, label in REPORT_KEYS if key in (report or {})
    ]


def preference_rows(metrics: Iterable[dict]) -> list[dict]:
    """Per reward metric the job logged: its key, label, first and latest value."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for payload in metrics:
        for key, _label in PREFERENCE_KEYS:
            value = (payload.get("extra") or {}).get(key)
            if isinstance(value, int | float):
                first.setdefault(key, value)
                last[key] = value
    return [
        {"key": key, "label": label, "first": first[key], "last": last[key]}
        for key, label in PREFERENCE_KEYS
        if key in last
    ]


def _score(value) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "—"


def evaluation_results(jobs: list) -> list[dict]:
    """Compare-page rows: each evaluation score any of ``jobs`` has, tuned with the base model's beside
    it ("0.4120 (base 0.0310)")."""
    rows = []
    for key, label in REPORT_KEYS:
        if not any(key in (job.report or {}) for job in jobs):
            continue
        cells = []
        for job in jobs:
            tuned, base = (job.report or {}).get(key), (job.base_report or {}).get(key)
            cells.append(_score(tuned) + (f" (base {_score(base)})" if base is not None else ""))
        rows.append({"key": label, "cells": cells})
    return rows
