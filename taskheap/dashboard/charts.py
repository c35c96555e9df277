"""Inline SVG line charts of a per-minute series: the line, a time axis (HH:MM ticks), a value
axis (0, half and the top), the latest value and the peak labelled, and every point's time and
value as its tooltip. Pure geometry: the template draws what this computes."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 600, 160
LEFT, RIGHT, TOP, BOTTOM = 44, 56, 18, 22  # margins: value labels left and right, times below
TICK_MINUTES = 10


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    time: str  # "12:03"
    value: str  # "45"


@dataclass(frozen=True, slots=True)
class Tick:
    at: float  # x for a time tick, y for a value tick
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    points: tuple[Point, ...]
    times: tuple[Tick, ...]
    values: tuple[Tick, ...]
    last: Point | None
    peak: Point | None
    last_value: float
    peak_value: float
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def chart(
    minutes: Sequence[int],
    values: Sequence[float],
    *,
    top: float | None = None,
    unit: Callable[[float], str] = lambda v: f"{v:.0f}",
) -> Chart:
    """`values[i]` is the figure of the minute starting at epoch second `minutes[i]`; `top`
    fixes the value axis (100 for a percentage), else it is the peak rounded up."""
    peak_value = max(values, default=0.0)
    scale = top if top is not None else _round_up(peak_value)
    span = max(len(values) - 1, 1)
    inner_w, inner_h = WIDTH - RIGHT - LEFT, HEIGHT - BOTTOM - TOP

    def x(i: int) -> float:
        return round(LEFT + i * inner_w / span, 1)

    def y(v: float) -> float:
        return round(TOP + inner_h - min(v, scale) / scale * inner_h, 1)

    points = tuple(
        Point(x(i), y(v), _hhmm(m), unit(v)) for i, (m, v) in enumerate(zip(minutes, values, strict=True))
    )
    times = tuple(Tick(x(i), _hhmm(m)) for i, m in enumerate(minutes) if (m // 60) % TICK_MINUTES == 0)
    value_ticks = tuple(Tick(y(v), unit(v)) for v in (0.0, scale / 2, scale))
    peak = max(points, key=lambda p: -p.y, default=None) if peak_value > 0 else None
    return Chart(
        points=points,
        times=times,
        values=value_ticks,
        last=points[-1] if points else None,
        peak=peak,
        last_value=values[-1] if values else 0.0,
        peak_value=peak_value,
    )


def _round_up(value: float) -> float:
    """The axis top for a peak: 1, 2 or 5 times a power of ten, at least 1."""
    if value <= 1:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1.0, 2.0, 5.0, 10.0) if step * power >= value)


def _hhmm(minute: int) -> str:
    return dt.datetime.fromtimestamp(minute).strftime("%H:%M")
