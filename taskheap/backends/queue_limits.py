"""Rate and concurrency limits of a queue, enforced by the store at claim (docs/architecture.md,
"Limits at claim"): what is declared (`QueueLimits`), what the store reports of a limited queue
(`LimitedQueue`), and the bounds every backend shares."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: A claim of a queue with a group_concurrency looks at most this many of its best queued jobs
#: for ones whose group has a free slot: jobs of saturated groups behind the head never block
#: the others within this bound (the cost of a claim of such a queue is O(GROUP_SCAN) at worst;
#: lua/claim.lua has the same bound).
GROUP_SCAN = 1000
MAX_GROUP_LENGTH = 200  # characters of a job's group
PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"([1-9][0-9]{0,8})/([smh])")


def parse_rate(rate: str) -> tuple[int, float]:
    """`"100/s"`, `"600/m"`, `"10000/h"` -> (starts, period in seconds); ValueError naming the
    bad value for anything else."""
    match = _RATE.fullmatch(rate) if isinstance(rate, str) else None
    if match is None:
        raise ValueError(
            f"rate must be like '100/s', '600/m' or '10000/h' (a whole number > 0), got {rate!r}"
        )
    return int(match.group(1)), PERIODS[match.group(2)]


def check_group(group: object) -> None:
    if group is None:
        return
    if not isinstance(group, str):
        raise TypeError(f"group must be a str, got {type(group).__name__}: {group!r}")
    if not group or len(group) > MAX_GROUP_LENGTH:
        raise ValueError(f"group must be 1 to {MAX_GROUP_LENGTH} characters, got {group!r}")


def _check_count(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number of jobs, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """What a queue allows, across every worker: at most `concurrency` of its jobs running, at
    most `rate` starts in any window of `period` seconds (sliding), at most `group_concurrency`
    running per group. None: no such limit."""

    concurrency: int | None = None
    rate: int | None = None
    period: float | None = None
    group_concurrency: int | None = None

    def __post_init__(self) -> None:
        _check_count("concurrency", self.concurrency)
        _check_count("rate", self.rate)
        _check_count("group_concurrency", self.group_concurrency)
        if (self.rate is None) != (self.period is None):
            raise ValueError("a rate needs its period and a period its rate")

    @classmethod
    def declared(
        cls, concurrency: int | None = None, rate: str | None = None, group_concurrency: int | None = None
    ) -> QueueLimits:
        """From `app.queue`'s arguments (`rate` as text)."""
        starts, period = parse_rate(rate) if rate is not None else (None, None)
        return cls(concurrency, starts, period, group_concurrency)

    @property
    def any(self) -> bool:
        return self.concurrency is not None or self.rate is not None or self.group_concurrency is not None

    @property
    def rate_text(self) -> str | None:
        """The rate as declared ("100/s"), None without one."""
        if self.rate is None or self.period is None:
            return None
        unit = next((u for u, seconds in PERIODS.items() if seconds == self.period), None)
        return f"{self.rate}/{unit}" if unit else f"{self.rate}/{self.period:g}s"


@dataclass(frozen=True, slots=True)
class LimitedQueue:
    """A queue the store holds limits for, as read at `now`: its jobs running (the slots held),
    its starts in the window of its rate ending at `now` (0 without a rate) and, while that
    window is full, the seconds from `now` until its oldest start leaves it (`room_in`: the
    earliest a claim can start another; 0 while the rate has room, or without one)."""

    name: str
    limits: QueueLimits
    running: int
    started: int
    room_in: float = 0.0


def room_in(limits: QueueLimits, started: int, oldest: float | None, now: float) -> float:
    """`LimitedQueue.room_in` from the starts in the window and the oldest of them."""
    if limits.rate is None or limits.period is None or started < limits.rate or oldest is None:
        return 0.0
    return max(0.0, oldest + limits.period - now)
