"""A job's training data on local disk: its datasets copied from storage, mixed, filled in and split.

The training runner calls :func:`materialise_for_job` in the job's work directory. Everything is seeded:
the same datasets (same versions), amounts, ratios and seed always give the same files.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .ingest import fill_placeholders, mix, split
from .ingest.ops import count_rows, placeholders
from .ingest.output import AtomicOutput, encode_row, read_rows
from .ingest.pipeline import FILLABLE
from .models import Dataset, DatasetStatus
from .storage import copy_to_local


class MaterialiseError(ValueError):
    """The job's datasets cannot be turned into training files as asked (the message says why)."""


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of a job: all its rows, ``num_samples`` of them, or a ``ratio`` (share of the mix)."""

    dataset: Dataset
    num_samples: int | None = None
    ratio: float | None = None
    placeholders: Mapping[str, str] = field(default_factory=dict)
    dataset_sha256: str = ""  # the version the job was created with; "" accepts the current one


@dataclass(frozen=True)
class MaterialisedData:
    train_path: Path
    val_path: Path | None  # None when nothing is held out
    test_path: Path | None
    counts: dict[str, int]  # rows in train / val / test
    kind: str  # sft | preference | text
    sources: list[dict]  # per dataset, in order: id, uid, name, sha256, rows, taken

    @property
    def versions(self) -> dict[int, str]:
        """Dataset id -> sha256 of the normalised file used: store it with the job (JobDataset)."""
        return {source["id"]: source["sha256"] for source in self.sources}


def materialise_for_job(
    dataset_specs: Iterable,
    work_dir: str | Path,
    *,
    seed: int,
    val_ratio: float = 0.0,
    test_ratio: float = 0.0,
    placeholders: Mapping[str, str] | None = None,
) -> MaterialisedData:
    """Write ``train.jsonl`` (and ``val.jsonl`` / ``test.jsonl``) in canonical format under ``work_dir``.

    ``dataset_specs``: :class:`DatasetSpec` objects, ``training_app`` ``JobDataset`` rows (same
    attributes), dicts with those keys, or plain datasets (all rows). Either every dataset gives a ratio
    (relative shares of the mix, scaled to add up to 1; the mix is the largest the datasets can fill) or
    none does (``num_samples`` rows, at most the dataset's size, or all rows). ``placeholders`` (e.g. ``{"name": ..., "author": ...}``)
    fill ``{{name}}``/``{{author}}`` placeholders of datasets that have them (found at upload, presets or
    not); a spec's own values win; other ``{{...}}`` text is left as it is.
    Raises :class:`MaterialiseError` when a dataset is not ready, changed since the job pinned its
    version, lacks a placeholder value, or the amounts and ratios cannot be met.
    """
    specs = [_spec(item) for item in dataset_specs]
    if not specs:
        raise MaterialiseError("a job needs at least one dataset")
    work = Path(work_dir)
    sources_dir = work / "sources"
    sources_dir.mkdir(parents=True, exist_ok=True)
    try:
        local, sources = _fetch_all(specs, sources_dir, placeholders or {})
        amounts = _amounts(specs, [source["rows"] for source in sources])
        mixed = mix(list(zip(local, amounts, strict=True)), seed, work / "mixed.jsonl")
        result = split(mixed.path, work, val_ratio=val_ratio, test_ratio=test_ratio, seed=seed)
    except MaterialiseError:
        raise
    except ValueError as exc:
        raise MaterialiseError(str(exc)) from exc
    finally:
        shutil.rmtree(sources_dir, ignore_errors=True)
        (work / "mixed.jsonl").unlink(missing_ok=True)
    for source, taken in zip(sources, mixed.taken, strict=True):
        source["taken"] = taken
    counts = result.counts
    held_out = {}
    for name in ("val", "test"):
        held_out[name] = result.paths[name] if counts.get(name) else None
        if name in result.paths and not counts[name]:
            result.paths[name].unlink()  # nothing held out: no empty file for the trainer to trip on
    return MaterialisedData(
        train_path=result.paths["train"],
        val_path=held_out["val"],
        test_path=held_out["test"],
        counts=counts,
        kind=specs[0].dataset.kind,
        sources=sources,
    )


def _fetch_all(specs, sources_dir: Path, values: Mapping[str, str]) -> tuple[list[Path], list[dict]]:
    local, sources = [], []
    for index, spec in enumerate(specs):
        path = _fetch(spec, sources_dir / f"{index}-{spec.dataset.uid}.jsonl")
        if spec.dataset.has_placeholders:
            _fill(path, {**values, **spec.placeholders}, spec.dataset)
        local.append(path)
        sources.append(
            {
                "id": spec.dataset.pk,
                "uid": str(spec.dataset.uid),
                "name": spec.dataset.name,
                "sha256": spec.dataset.sha256,
                "rows": count_rows(path),
            }
        )
    return local, sources


def _spec(item) -> DatasetSpec:
    if isinstance(item, DatasetSpec):
        return item
    if isinstance(item, Dataset):
        return DatasetSpec(dataset=item)
    get = item.get if isinstance(item, Mapping) else lambda name, default=None: getattr(item, name, default)
    dataset = get("dataset")
    if not isinstance(dataset, Dataset):
        dataset = Dataset.objects.get(pk=dataset)
    return DatasetSpec(
        dataset=dataset,
        num_samples=get("num_samples"),
        ratio=get("ratio"),
        placeholders=get("placeholders") or {},
        dataset_sha256=get("dataset_sha256") or "",
    )


def _fetch(spec: DatasetSpec, path: Path) -> Path:
    dataset = spec.dataset
    if dataset.status != DatasetStatus.READY or not dataset.normalised_file:
        raise MaterialiseError(f'dataset "{dataset.name}" is {dataset.status}, not ready')
    if spec.dataset_sha256 and spec.dataset_sha256 != dataset.sha256:
        raise MaterialiseError(
            f'dataset "{dataset.name}" changed since the job was created '
            f"(version {spec.dataset_sha256[:12]}, now {dataset.sha256[:12]})"
        )
    copied = copy_to_local(dataset.normalised_file.name, path)
    if copied != dataset.sha256:
        raise MaterialiseError(f'the stored file of dataset "{dataset.name}" does not match its version')
    return path


def _fill(path: Path, values: Mapping[str, str], dataset: Dataset) -> None:
    values = {name: str(value).strip() for name, value in values.items() if str(value).strip()}
    filled = path.with_suffix(".filled")
    missing: set[str] = set()
    with AtomicOutput(filled) as out:
        for row in read_rows(path):
            missing |= (placeholders(row) & FILLABLE) - values.keys()
            out.write((encode_row(fill_placeholders(row, values)) + "\n").encode())
    if missing:
        filled.unlink()
        raise MaterialiseError(
            f'dataset "{dataset.name}" needs values for its placeholders: {", ".join(sorted(missing))}'
        )
    filled.replace(path)


def check_amounts(specs: Iterable) -> None:
    """Refuse what no dataset size can fix: ratios on some datasets only, or counts mixed with ratios.

    Job creation can call this before queueing, so the job does not fail later for it.
    """
    specs = [_spec(item) for item in specs]
    with_ratio = [spec.ratio is not None for spec in specs]
    if any(with_ratio) and (not all(with_ratio) or any(spec.num_samples is not None for spec in specs)):
        raise MaterialiseError("give every dataset a ratio, or none (use sample counts instead)")
    for spec in specs:
        if spec.num_samples is not None and spec.num_samples < 0:
            raise MaterialiseError(f'num_samples of "{spec.dataset.name}" must not be negative')
        if spec.ratio is not None and not 0 < spec.ratio <= 1:
            raise MaterialiseError(f'the ratio of "{spec.dataset.name}" must be above 0 and at most 1')


def _amounts(specs: list[DatasetSpec], sizes: list[int]) -> list[int | float]:
    """Row counts (at most each dataset's size), or ratios scaled to add up to 1 (relative shares)."""
    check_amounts(specs)
    if specs[0].ratio is not None:
        total = sum(spec.ratio for spec in specs)
        return [spec.ratio / total for spec in specs]
    return [
        size if spec.num_samples is None else min(spec.num_samples, size)
        for spec, size in zip(specs, sizes, strict=True)
    ]
