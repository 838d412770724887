"""Statistics of the canonical rows written: counts, length distributions per role, tokens."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from .output import encode_row

ROLE_ORDER = ("system", "tools", "user", "assistant", "function_call", "tool", "chosen", "rejected", "text")
HISTOGRAM_EDGES = (0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
_EXACT = HISTOGRAM_EDGES[-1]

TokenCounter = Callable[[str], int]


class Distribution:
    """Lengths seen. Values below 65,536 are counted exactly (so percentiles are exact and memory is
    fixed); the rare longer ones are kept in a list."""

    __slots__ = ("counts", "longer", "total")

    def __init__(self) -> None:
        self.counts = [0] * _EXACT
        self.longer: list[int] = []
        self.total = 0

    def add(self, value: int) -> None:
        if value < _EXACT:
            self.counts[value] += 1
        else:
            self.longer.append(value)
        self.total += value

    def summary(self) -> dict:
        """count, min, mean, p50, p95, max and a histogram: ``counts[i]`` holds values in
        ``[edges[i], edges[i + 1])``, the last one every value from ``edges[-1]`` up."""
        counts, longer = self.counts, sorted(self.longer)
        n = sum(counts) + len(longer)
        if not n:
            return {"count": 0}
        edges = HISTOGRAM_EDGES
        buckets = [sum(counts[edges[i] : edges[i + 1]]) for i in range(len(edges) - 1)] + [len(longer)]
        return {
            "count": n,
            "min": self._rank(1, longer),
            "mean": round(self.total / n, 1),
            "p50": self._rank(-(-n * 50 // 100), longer),
            "p95": self._rank(-(-n * 95 // 100), longer),
            "max": self._rank(n, longer),
            "histogram": {"edges": list(edges), "counts": buckets},
        }

    def _rank(self, rank: int, longer: list[int]) -> int:
        """The value of the given 1-based rank (nearest-rank percentile)."""
        seen = 0
        for value, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return value
        return longer[rank - seen - 1]


def token_counter(tokenizer: object) -> TokenCounter | None:
    """Accept a Hugging Face tokenizer (transformers or ``tokenizers``) or any ``text -> list[int]``."""
    if tokenizer is None:
        return None
    encode = getattr(tokenizer, "encode", None)
    if callable(encode):

        def count(text: str) -> int:
            ids = encode(text, add_special_tokens=False)
            return len(getattr(ids, "ids", ids))

        return count
    if not callable(tokenizer):
        raise TypeError("tokenizer must be callable or have an encode() method")
    return lambda text: len(tokenizer(text))


def row_pieces(row: dict) -> list[tuple[str, str]]:
    """(role, text) of every text in a canonical row, of any kind."""
    if "text" in row:
        return [("text", row["text"])]
    pieces = [("system", row["system"])] if "system" in row else []
    if "tools" in row:
        pieces.append(("tools", encode_row(row["tools"])))
    pieces += [(message["role"], message["content"]) for message in row["messages"]]
    if "chosen" in row:
        pieces += (("chosen", row["chosen"]), ("rejected", row["rejected"]))
    return pieces


class Stats:
    """Accumulates over the rows that are written."""

    def __init__(self, kind: str, count_tokens: TokenCounter | None = None):
        self.kind = kind
        self.rows = 0
        self.messages = 0
        self.turns = 0
        self.turns_per_row: dict[int, int] = defaultdict(int)
        self.lengths: dict[str, Distribution] = defaultdict(Distribution)
        self.weight_zero = 0
        self.labels = {True: 0, False: 0}  # kto: desirable / undesirable answers
        self._count_tokens = count_tokens
        self.row_tokens = Distribution()
        self.role_tokens: dict[str, int] = defaultdict(int)

    def add(self, row: dict, pieces: list[tuple[str, str]]) -> None:
        self.rows += 1
        lengths = self.lengths
        for role, text in pieces:
            lengths[role].add(len(text))
        if self.kind != "text":
            messages = row["messages"]
            self.messages += len(messages)
            turns = 0
            for message in messages:
                if message["role"] == "user":
                    turns += 1
                elif "weight" in message:
                    self.weight_zero += 1
            self.turns += turns
            self.turns_per_row[turns] += 1
            if "label" in row:
                self.labels[row["label"]] += 1
        if self._count_tokens is not None:
            self._add_tokens(pieces)

    def _add_tokens(self, pieces: list[tuple[str, str]]) -> None:
        total = 0
        for role, text in pieces:
            n = self._count_tokens(text)
            self.role_tokens[role] += n
            total += n
        self.row_tokens.add(total)

    def summary(self) -> dict:
        roles = sorted(
            self.lengths, key=lambda r: ROLE_ORDER.index(r) if r in ROLE_ORDER else len(ROLE_ORDER)
        )
        out: dict = {
            "rows": self.rows,
            "characters": sum(dist.total for dist in self.lengths.values()),
        }
        if self.kind != "text":
            out["messages"] = self.messages
            out["turns"] = self.turns
            out["turns_per_row"] = {str(k): self.turns_per_row[k] for k in sorted(self.turns_per_row)}
            out["weight_zero_messages"] = self.weight_zero
        if self.kind == "kto":
            out["labels"] = {"desirable": self.labels[True], "undesirable": self.labels[False]}
        out["chars_by_role"] = {role: self.lengths[role].summary() for role in roles}
        if self._count_tokens is not None:
            out["tokens"] = {
                "total": self.row_tokens.total,
                "per_row": self.row_tokens.summary(),
                "by_role": {role: self.role_tokens[role] for role in roles},
            }
        return out
