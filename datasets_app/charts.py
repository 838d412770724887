"""Geometry of the small per-role length histograms the portal draws as inline SVG (no chart library)."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 240
HEIGHT = 60
MIN_BUCKETS = 5


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Histogram:
    bars: list[Bar]
    first_label: str
    last_label: str
    width: int = WIDTH
    height: int = HEIGHT


def compact(value: int) -> str:
    """1536 -> "1.5k", 65536 -> "64k": short enough for an axis label."""
    if value < 1024:
        return str(value)
    k = value / 1024
    return f"{k:.0f}k" if k == int(k) or k >= 10 else f"{k:.1f}k"


def bucket_label(edges: list[int], index: int) -> str:
    if index >= len(edges) - 1:
        return f"{compact(edges[-1])}+"
    return f"{compact(edges[index])}–{compact(edges[index + 1] - 1)}"


def histogram(summary: dict) -> Histogram | None:
    """Bars for the buckets from the first to the last non-empty one (at least ``MIN_BUCKETS``)."""
    data = summary.get("histogram") if summary else None
    if not data or not any(data["counts"]):
        return None
    edges, counts = data["edges"], data["counts"]
    used = [i for i, count in enumerate(counts) if count]
    first, last = used[0], used[-1]
    last = min(max(last, first + MIN_BUCKETS - 1), len(counts) - 1)
    first = max(0, min(first, last - MIN_BUCKETS + 1))
    shown = range(first, last + 1)
    peak = max(counts)
    step = WIDTH / len(shown)
    bars = []
    for slot, index in enumerate(shown):
        count = counts[index]
        height = max(1.5, (HEIGHT - 2) * count / peak) if count else 0
        bars.append(
            Bar(
                x=round(slot * step + 1, 1),
                y=round(HEIGHT - height, 1),
                width=round(step - 2, 1),
                height=round(height, 1),
                title=f"{bucket_label(edges, index)} characters: {count} row{'s' if count != 1 else ''}",
            )
        )
    last_edge = f"{compact(edges[-1])}+" if last >= len(edges) - 1 else compact(edges[last + 1])
    return Histogram(bars=bars, first_label=compact(edges[first]), last_label=last_edge)


def role_rows(stats: dict) -> list[dict]:
    """One entry per role for the stats table: its length summary, token total and histogram."""
    tokens = (stats.get("tokens") or {}).get("by_role", {})
    return [
        {"role": role, "summary": summary, "tokens": tokens.get(role), "chart": histogram(summary)}
        for role, summary in (stats.get("chars_by_role") or {}).items()
    ]
