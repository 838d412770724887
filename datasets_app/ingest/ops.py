"""Operations on canonical files: preview, train/val/test split, mixing sources, placeholders.

All of them stream the file; sampling is seeded and reproducible (same files, same seed, same result).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .output import AtomicOutput, iter_lines, read_rows

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
SPLIT_NAMES = ("train", "val", "test")


def preview(canonical_path: str | os.PathLike, offset: int = 0, limit: int = 20) -> list[dict]:
    """Rows ``offset`` .. ``offset + limit - 1`` of a canonical file, reading no further than needed."""
    if offset < 0 or limit < 0:
        raise ValueError("offset and limit must not be negative")
    return list(itertools.islice(read_rows(canonical_path), offset, offset + limit))


def count_rows(path: str | os.PathLike) -> int:
    return sum(1 for _ in iter_lines(path))


def row_kind(row: dict) -> str:
    if "text" in row:
        return "text"
    if "label" in row:
        return "kto"
    return "preference" if "chosen" in row else "sft"


# -- split ---------------------------------------------------------------------------------------------


def split_indices(
    n_rows: int, *, val_ratio: float, test_ratio: float = 0.0, seed: int = 0
) -> tuple[frozenset[int], frozenset[int]]:
    """Row indices of the validation and test splits (the rest is train).

    A seeded sample without replacement: the same ``n_rows``, ratios and seed always give the same split.
    A ratio above zero gets at least one row; train keeps at least one.
    """
    if val_ratio < 0 or test_ratio < 0 or val_ratio + test_ratio >= 1:
        raise ValueError("val_ratio and test_ratio must be >= 0 and sum to less than 1")
    n_val, n_test = (max(1, round(n_rows * r)) if r > 0 else 0 for r in (val_ratio, test_ratio))
    if n_val + n_test >= n_rows and n_val + n_test:
        raise ValueError(f"{n_rows} rows are too few to hold out {n_val + n_test} and keep one for training")
    picked = random.Random(seed).sample(range(n_rows), n_val + n_test)
    return frozenset(picked[n_test:]), frozenset(picked[:n_test])


@dataclass(frozen=True)
class SplitResult:
    paths: dict[str, Path]  # train, val and (when test_ratio > 0) test
    counts: dict[str, int]


def split(
    canonical_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    val_ratio: float,
    test_ratio: float = 0.0,
    seed: int = 0,
) -> SplitResult:
    """Write ``train.jsonl``, ``val.jsonl`` (and ``test.jsonl``) under ``out_dir``, rows in file order."""
    val, test = split_indices(
        count_rows(canonical_path), val_ratio=val_ratio, test_ratio=test_ratio, seed=seed
    )
    names = SPLIT_NAMES if test_ratio > 0 else SPLIT_NAMES[:2]
    paths = {name: Path(out_dir) / f"{name}.jsonl" for name in names}
    counts = dict.fromkeys(names, 0)
    with contextlib.ExitStack() as stack:
        files = {name: stack.enter_context(AtomicOutput(path)) for name, path in paths.items()}
        for index, line in enumerate(iter_lines(canonical_path)):
            name = "test" if index in test else "val" if index in val else "train"
            files[name].write(line)
            counts[name] += 1
    return SplitResult(paths=paths, counts=counts)


# -- mix -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MixResult:
    path: Path
    rows: int
    taken: list[int]  # rows taken from each source, in the order given


def mix(
    sources: Sequence[tuple[str | os.PathLike, int | float]],
    seed: int,
    out_path: str | os.PathLike,
    *,
    total: int | None = None,
) -> MixResult:
    """Sample rows from several canonical files of the same kind into one, without replacement.

    Each source comes with either a count (``int``: take that many rows) or a ratio (``float``: its share
    of ``total``; the ratios must add up to 1). Without ``total``, ratios give the largest mix the
    sources can fill. Rows are picked by a seeded sample per source and interleaved in a seeded random
    order, streaming: the same sources and seed always give the same file.
    """
    if not sources:
        raise ValueError("give at least one source")
    paths = [Path(path) for path, _ in sources]
    sizes = [count_rows(path) for path in paths]
    takes = _amounts([amount for _, amount in sources], sizes, total)
    kinds = {_first_kind(path) for path, take in zip(paths, takes, strict=True) if take}
    if len(kinds) > 1:
        raise ValueError(f"the sources hold different kinds of rows: {', '.join(sorted(kinds))}")
    rng = random.Random(seed)
    picked = [frozenset(rng.sample(range(size), take)) for size, take in zip(sizes, takes, strict=True)]
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(AtomicOutput(out_path))
        streams = [_picked_lines(path, chosen) for path, chosen in zip(paths, picked, strict=True)]
        for stream in streams:
            stack.callback(stream.close)
        remaining = list(takes)
        left = sum(remaining)
        while left:
            # Each next row comes from a source with probability proportional to what it has left.
            r = rng.randrange(left)
            i = 0
            while r >= remaining[i]:
                r -= remaining[i]
                i += 1
            out.write(next(streams[i]))
            remaining[i] -= 1
            left -= 1
    return MixResult(path=Path(out_path), rows=sum(takes), taken=takes)


def _amounts(amounts: list[int | float], sizes: list[int], total: int | None) -> list[int]:
    if all(isinstance(a, int) and not isinstance(a, bool) for a in amounts):
        takes = list(amounts)
    elif all(isinstance(a, float) for a in amounts):
        if any(a <= 0 for a in amounts) or not math.isclose(sum(amounts), 1.0, abs_tol=1e-6):
            raise ValueError("ratios must be above 0 and add up to 1")
        if total is None:
            total = min(math.floor(size / ratio + 1e-9) for size, ratio in zip(sizes, amounts, strict=True))
        takes = _apportion(total, amounts)
    else:
        raise ValueError("give every source a row count (int) or every source a ratio (float)")
    for i, (take, size) in enumerate(zip(takes, sizes, strict=True)):
        if take < 0 or take > size:
            raise ValueError(f"source {i} has {size} rows; cannot take {take} without replacement")
    if not sum(takes):
        raise ValueError("the mix would be empty")
    return takes


def _apportion(total: int, ratios: list[float]) -> list[int]:
    """Split ``total`` by ``ratios`` into integers that add up to it (largest remainder)."""
    exact = [total * ratio for ratio in ratios]
    takes = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(ratios)), key=lambda i: (takes[i] - exact[i], i))
    for i in by_remainder[: total - sum(takes)]:
        takes[i] += 1
    return takes


def _first_kind(path: Path) -> str:
    for row in read_rows(path):
        return row_kind(row)
    return "empty"


def _picked_lines(path: Path, chosen: frozenset[int]) -> Iterator[bytes]:
    for index, line in enumerate(iter_lines(path)):
        if index in chosen:
            yield line


# -- placeholders --------------------------------------------------------------------------------------


def fill_placeholders(row: object, values: Mapping[str, str]) -> object:
    """A copy of ``row`` with ``{{name}}``-style placeholders in every string replaced from ``values``.

    Placeholders without a value are left as they are.
    """
    if isinstance(row, str):
        return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), row)
    if isinstance(row, dict):
        return {key: fill_placeholders(value, values) for key, value in row.items()}
    if isinstance(row, list):
        return [fill_placeholders(value, values) for value in row]
    return row


def placeholders(row: object) -> set[str]:
    """The placeholder names used anywhere in ``row``."""
    if isinstance(row, str):
        return set(_PLACEHOLDER.findall(row))
    if isinstance(row, dict):
        row = list(row.values())
    if isinstance(row, list):
        return set().union(*(placeholders(value) for value in row))
    return set()
