"""Inline SVG charts: the points of a polyline for a series, scaled to a box."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 600, 120


@dataclass(frozen=True, slots=True)
class Chart:
    points: str  # "x,y x,y …" for <polyline points=…>
    peak: float
    last: float


def chart(values: Sequence[float], peak: float | None = None) -> Chart:
    top = max(peak if peak is not None else max(values, default=0.0), 1e-9)
    step = WIDTH / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{HEIGHT - v / top * HEIGHT:.1f}" for i, v in enumerate(values))
    return Chart(points, max(values, default=0.0), values[-1] if values else 0.0)
