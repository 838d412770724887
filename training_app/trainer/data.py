"""Canonical JSONL in, tokenized training examples out.

See docs/canonical-format.md for the four row kinds (sft, preference, kto, text). A row's ``tools`` are
rendered through the chat template (``tools=``), or into the system message when the template ignores them. Labels are -100 wherever
the model should not learn: system, user and tool text, weight-0 assistant turns and padding.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training_app.trainer.templates import apply_chat_template

IGNORE_INDEX = -100
_ROLES = ("user", "assistant", "tool", "function_call")


class DatasetError(ValueError):
    """A dataset file the user must fix: the message names the file, the line and the problem."""


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"Dataset file not found: {path}")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path.name}, line {lineno}: not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise DatasetError(f"{path.name}, line {lineno}: expected a JSON object")
            row["_where"] = f"{path.name}, line {lineno}"
            rows.append(row)
    if not rows:
        raise DatasetError(f"{path.name}: the file has no rows")
    return rows


def read_files(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in paths:
        rows.extend(read_jsonl(path))
    return rows


def row_kind(row: dict[str, Any]) -> str:
    if "text" in row:
        return "text"
    if "label" in row:
        return "kto"
    if "chosen" in row and "rejected" in row:
        return "preference"
    if "messages" in row:
        return "sft"
    raise DatasetError(
        f"{row.get('_where', 'row')}: not a canonical row (no text, messages or chosen/rejected)"
    )


def require_kind(rows: Sequence[dict[str, Any]], kind: str, stage: str) -> None:
    for row in rows:
        if row_kind(row) != kind:
            raise DatasetError(
                f"{row.get('_where', 'row')}: the {stage} stage needs '{kind}' rows, this one is '{row_kind(row)}'"
            )


def split_rows(rows: Sequence[Any], val_ratio: float, seed: int) -> tuple[list[Any], list[Any]]:
    """Deterministic train/held-out split; the same rows, ratio and seed always give the same split."""
    if val_ratio <= 0 or len(rows) < 2:
        return list(rows), []
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_eval = min(len(rows) - 1, max(1, round(len(rows) * val_ratio)))
    held = set(order[:n_eval])
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]


def to_chat(row: dict[str, Any]) -> tuple[list[dict[str, str]], list[int]]:
    """Canonical row -> chat-template messages and a per-message weight (1 only for trained replies)."""
    where = row.get("_where", "row")
    messages: list[dict[str, str]] = []
    weights: list[int] = []
    if row.get("system"):
        messages.append({"role": "system", "content": str(row["system"])})
        weights.append(0)
    raw = row.get("messages")
    if not isinstance(raw, list) or not raw:
        raise DatasetError(f"{where}: 'messages' must be a non-empty list")
    for i, msg in enumerate(raw):
        role, content = msg.get("role"), msg.get("content")
        if role not in _ROLES or not isinstance(content, str):
            raise DatasetError(f"{where}: messages[{i}] needs a role in {_ROLES} and a string content")
        if role == "function_call":
            # A tool call is written by the assistant, so it is a target; Qwen-style markup keeps it parseable.
            role, content = "assistant", f"<tool_call>\n{content}\n</tool_call>"
        weight = msg.get("weight", 1)
        if weight not in (0, 1):
            raise DatasetError(f"{where}: messages[{i}].weight must be 0 or 1, got {weight!r}")
        messages.append({"role": role, "content": content})
        weights.append(int(weight) if role == "assistant" else 0)
    return messages, weights


def row_tools(row: dict[str, Any]) -> list[dict[str, Any]] | None:
    tools = row.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list) or not all(isinstance(tool, dict) for tool in tools):
        raise DatasetError(f"{row.get('_where', 'row')}: 'tools' must be a list of tool definitions")
    return tools or None


def render(
    tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool, tools: list | None = None
) -> str:
    return apply_chat_template(
        tokenizer, messages, tools, tokenize=False, add_generation_prompt=add_generation_prompt
    )


def _target_spans(tokenizer: Any, messages: list[dict[str, str]], weights: list[int], full: str, tools=None):
    """Character spans of the trained assistant replies (content plus the end-of-turn token) in ``full``."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant" or not weights[i]:
            continue
        before = render(tokenizer, messages[:i], True, tools)
        upto = render(tokenizer, messages[: i + 1], False, tools)
        if full.startswith(upto) and upto.startswith(before):
            # Trailing newlines belong to the next turn: the model should stop at the end-of-turn token.
            start, end = len(before), len(upto.rstrip())
        else:
            # Templates that rewrite history (e.g. drop old reasoning) are not prefix-stable: fall back to
            # locating the reply text itself.
            start = full.find(msg["content"], cursor)
            if start < 0:
                continue
            end = start + len(msg["content"])
            if tokenizer.eos_token and full.startswith(tokenizer.eos_token, end):
                end += len(tokenizer.eos_token)
        spans.append((start, end))
        cursor = end
    return spans


def encode_sft(
    row: dict[str, Any], tokenizer: Any, max_seq_len: int, train_on_prompt: bool = False
) -> dict[str, list[int]] | None:
    """Tokenize one conversation; returns None when truncation leaves nothing to learn."""
    messages, weights = to_chat(row)
    if messages[-1]["role"] != "assistant":
        raise DatasetError(f"{row.get('_where', 'row')}: the last message must be from the assistant")
    tools = row_tools(row)
    full = render(tokenizer, messages, False, tools)
    spans = [(0, len(full))] if train_on_prompt else _target_spans(tokenizer, messages, weights, full, tools)
    # Encode segment by segment: the prompt is tokenized on its own, exactly as at inference time.
    input_ids: list[int] = []
    labels: list[int] = []
    pos = 0
    for start, end in [*spans, (len(full), len(full))]:
        for text, trained in ((full[pos:start], False), (full[start:end], True)):
            if text:
                ids = tokenizer(text, add_special_tokens=False)["input_ids"]
                input_ids.extend(ids)
                labels.extend(ids if trained else [IGNORE_INDEX] * len(ids))
        pos = max(pos, end)
    input_ids, labels = input_ids[:max_seq_len], labels[:max_seq_len]
    if all(label == IGNORE_INDEX for label in labels):
        return None
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels}


def encode_pt(rows: Sequence[dict[str, Any]], tokenizer: Any, max_seq_len: int) -> list[dict[str, list[int]]]:
    """Continued pre-training: documents end with EOS, are concatenated and cut into max_seq_len blocks."""
    stream: list[int] = []
    for row in rows:
        if not isinstance(row.get("text"), str) or not row["text"]:
            raise DatasetError(f"{row.get('_where', 'row')}: 'text' must be a non-empty string")
        stream.extend(tokenizer(row["text"], add_special_tokens=False)["input_ids"])
        stream.append(tokenizer.eos_token_id)
    blocks = [stream[i : i + max_seq_len] for i in range(0, len(stream), max_seq_len)]
    return [{"input_ids": b, "attention_mask": [1] * len(b), "labels": list(b)} for b in blocks if len(b) > 1]


def pack_examples(examples: Sequence[dict[str, list[int]]], max_seq_len: int) -> list[dict[str, list[int]]]:
    """Greedily concatenate examples into blocks of at most max_seq_len tokens; labels keep their masks."""
    packed: list[dict[str, list[int]]] = []
    current: dict[str, list[int]] = {"input_ids": [], "attention_mask": [], "labels": []}
    for ex in examples:
        if current["input_ids"] and len(current["input_ids"]) + len(ex["input_ids"]) > max_seq_len:
            packed.append(current)
            current = {"input_ids": [], "attention_mask": [], "labels": []}
        for key in current:
            current[key].extend(ex[key])
    if current["input_ids"]:
        packed.append(current)
    return packed


def _adds_bos(tokenizer: Any) -> bool:
    ids = tokenizer("a")["input_ids"]
    return tokenizer.bos_token_id is not None and bool(ids) and ids[0] == tokenizer.bos_token_id


def _prompt_and_answers(
    tokenizer: Any, messages: list[dict[str, str]], answers: dict[str, str], tools: list | None
) -> dict[str, str]:
    """The rendered prompt (ending with the generation prompt) and each answer as the text that follows
    it, as TRL's preference trainers take them."""
    prompt = render(tokenizer, messages, True, tools)
    out = {"prompt": prompt}
    for key, answer in answers.items():
        full = render(tokenizer, [*messages, {"role": "assistant", "content": answer}], False, tools)
        out[key] = full[len(prompt) :].rstrip() if full.startswith(prompt) else answer
    # TRL tokenizes these strings with special tokens on; avoid a second BOS when the template has one.
    if tokenizer.bos_token and prompt.startswith(tokenizer.bos_token) and _adds_bos(tokenizer):
        out["prompt"] = prompt[len(tokenizer.bos_token) :]
    return out


def encode_dpo(row: dict[str, Any], tokenizer: Any) -> dict[str, str]:
    """Preference row -> TRL's prompt/chosen/rejected strings (prompt ends with the generation prompt)."""
    messages, _ = to_chat(row)
    for key in ("chosen", "rejected"):
        if not isinstance(row.get(key), str) or not row[key]:
            raise DatasetError(f"{row.get('_where', 'row')}: '{key}' must be a non-empty string")
    answers = {"chosen": row["chosen"], "rejected": row["rejected"]}
    return _prompt_and_answers(tokenizer, messages, answers, row_tools(row))


def encode_kto(row: dict[str, Any], tokenizer: Any) -> dict[str, Any]:
    """KTO row -> TRL's unpaired prompt/completion/label: the last assistant reply is the completion,
    desirable when ``label`` is true. An undesirable completion is only ever pushed down, never imitated."""
    where = row.get("_where", "row")
    if not isinstance(row.get("label"), bool):
        raise DatasetError(f"{where}: 'label' must be true or false")
    messages, _ = to_chat(row)
    if messages[-1]["role"] != "assistant":
        raise DatasetError(f"{where}: the last message must be the assistant's answer")
    out = _prompt_and_answers(
        tokenizer, messages[:-1], {"completion": messages[-1]["content"]}, row_tools(row)
    )
    return {**out, "label": row["label"]}


def as_sft_row(row: dict[str, Any]) -> dict[str, Any]:
    """A preference row seen as a conversation ending in the chosen reply (for eval loss and generation)."""
    if row_kind(row) == "kto":
        return {key: value for key, value in row.items() if key != "label"}
    if row_kind(row) != "preference":
        return row
    messages = [*row["messages"], {"role": "assistant", "content": row["chosen"]}]
    return {**row, "messages": messages}


def generation_pairs(rows: Sequence[dict[str, Any]], tokenizer: Any) -> list[dict[str, str]]:
    """Held-out rows -> {prompt (rendered), question (last user text), reference (last reply)}."""
    pairs = []
    for row in rows:
        if row_kind(row) == "text" or row.get("label") is False:
            continue  # an undesirable KTO answer is no reference to score against
        messages, _ = to_chat(as_sft_row(row))
        if messages[-1]["role"] != "assistant":
            continue
        question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        pairs.append(
            {
                "prompt": render(tokenizer, messages[:-1], True, row_tools(row)),
                "question": question,
                "reference": messages[-1]["content"],
            }
        )
    return pairs


@dataclass
class PadCollator:
    """Right-pads a batch: input_ids with the pad id, labels with -100, attention_mask with 0."""

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        length = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        batch: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": [], "labels": []}
        for f in features:
            pad = length - len(f["input_ids"])
            batch["input_ids"].append(f["input_ids"] + [self.pad_token_id] * pad)
            batch["attention_mask"].append(f["attention_mask"] + [0] * pad)
            batch["labels"].append(f["labels"] + [IGNORE_INDEX] * pad)
        return {key: torch.tensor(value, dtype=torch.long) for key, value in batch.items()}


def build_lm_examples(
    rows: Sequence[dict[str, Any]],
    tokenizer: Any,
    *,
    stage: str,
    max_seq_len: int,
    train_on_prompt: bool = False,
    packing: bool = False,
) -> list[dict[str, list[int]]]:
    """sft/pt rows -> tokenized examples; preference rows are used as conversations ending in 'chosen'."""
    if stage == "pt":
        return encode_pt(rows, tokenizer, max_seq_len)
    # An undesirable KTO answer (label false) is never a target to imitate, not even for eval loss.
    rows = [r for r in rows if r.get("label") is not False]
    examples = [encode_sft(as_sft_row(r), tokenizer, max_seq_len, train_on_prompt) for r in rows]
    kept = [ex for ex in examples if ex is not None]
    return pack_examples(kept, max_seq_len) if packing else kept
