"""Periodic jobs: a Schedule says when a task fires; `fires_between` is the fire-time math.

Every worker evaluates every schedule of its app (worker/scheduler.py) and enqueues each fire
with the unique key `schedule:{name}:{fire time, UTC ISO}`: the store keeps one job per key, so
any number of workers fire each (schedule, fire time) exactly once, without a leader.

Cron in a named time zone follows the wall clock, with this policy across DST: a local time the
clocks skip fires once at the end of the gap (fixed-hour fields) or not at all (a wildcard hour
field fires every real hour); a local time the clocks repeat fires once, at its first occurrence
(fixed-hour fields), or at both (wildcard hour field). `every=` schedules fire at the multiples
of the interval since the Unix epoch, so all workers agree without coordination.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

UTC = dt.UTC
#: Default seconds after its fire time a missed fire still runs (a worker that was down).
MISFIRE_GRACE = 600.0
#: Seconds the unique key of a fire outlives the misfire window (clock skew between workers).
KEY_MARGIN = 3600.0


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    task: str
    cron: str | None = None
    every: float | None = None
    tz: str = "UTC"
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    misfire_grace: float = MISFIRE_GRACE

    @property
    def unique_for(self) -> float:
        """Seconds the key of a fire is held: longer than any worker may still fire it."""
        return self.misfire_grace + KEY_MARGIN

    def describe(self) -> str:
        return f"cron {self.cron} ({self.tz})" if self.cron is not None else f"every {self.every:g}s"

    def key(self, fire: float) -> str:
        return f"schedule:{self.name}:{iso(fire)}"

    def fires_between(self, after: float, until: float) -> list[float]:
        """The fire times t (Unix seconds) with after < t <= until, in order."""
        fires: list[float] = []
        for fire in self._fires_after(after):
            if fire > until:
                return fires
            fires.append(fire)
        return fires

    def skipped(self, since: float, now: float, fired: Collection[float], most: int) -> int:
        """How many fires after `since` and due by `now` are not among `fired` though no worker
        will fire them any more: all but the latest, which may still run within its misfire
        grace (worker/scheduler.py); counting stops at `most`."""
        skipped, latest = 0, None
        for fire in self._fires_after(since):
            if fire > now or skipped == most:
                break
            if latest is not None and latest not in fired:
                skipped += 1
            latest = fire
        late = latest is not None and latest not in fired and now - latest > self.misfire_grace
        return skipped + (late and skipped < most)

    def next_fires(self, after: float, count: int) -> list[float]:
        fires: list[float] = []
        for fire in self._fires_after(after):
            fires.append(fire)
            if len(fires) == count:
                break
        return fires

    def _fires_after(self, after: float) -> Iterator[float]:
        if self.every is not None:
            fire = (after // self.every + 1) * self.every
            while True:
                yield fire
                fire += self.every
        assert self.cron is not None
        yield from cron_fires(self.cron, ZoneInfo(self.tz), after)


def cron_fires(expression: str, zone: ZoneInfo, after: float) -> Iterator[float]:
    """The fire times of `expression` read as wall-clock times in `zone`, after `after`, in order."""
    wildcard_hour = croniter(expression).expanded[1] == ["*"]
    # UTC offsets lie within [-12 h, +14 h]: a wall time w is the instant w - offset. So walls
    # from `after` (read as UTC) - 12 h cover every instant after it, and a candidate is final
    # once the wall cursor (read as UTC) is 14 h past it; held until then, since wall times map
    # to instants out of order around a repeated hour.
    naive_after = dt.datetime.fromtimestamp(after, UTC).replace(tzinfo=None)
    walls = croniter(expression, naive_after - dt.timedelta(hours=12, minutes=1))
    pending: set[float] = set()
    while True:
        wall: dt.datetime = walls.get_next(dt.datetime)
        pending.update(t for t in _instants(wall, zone, wildcard_hour) if t > after)
        horizon = wall.replace(tzinfo=UTC).timestamp() - 14 * 3600
        for fire in sorted(t for t in pending if t < horizon):
            pending.discard(fire)
            yield fire


def _instants(wall: dt.datetime, zone: ZoneInfo, wildcard_hour: bool) -> list[float]:
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return [first.timestamp()]
    if _exists(first):  # repeated: fold 0 is the first occurrence
        return [first.timestamp(), second.timestamp()] if wildcard_hour else [first.timestamp()]
    # skipped: fold 1 reads it with the offset before the gap, so the gap ends at or before it;
    # the end of the gap is the instant the offset changes
    return [] if wildcard_hour else [_gap_end(second.timestamp(), first.timestamp(), zone)]


def _exists(moment: dt.datetime) -> bool:
    return moment.astimezone(UTC).astimezone(moment.tzinfo).replace(tzinfo=None) == moment.replace(
        tzinfo=None
    )


def _gap_end(low: float, high: float, zone: ZoneInfo) -> float:
    """The instant in (low, high] at which `zone`'s offset changes (to the minute)."""
    low, high = min(low, high), max(low, high)
    offset = dt.datetime.fromtimestamp(low, zone).utcoffset()
    while high - low > 60:
        middle = (low + high) // 60 // 2 * 60
        middle = max(middle, low + 60)
        if dt.datetime.fromtimestamp(middle, zone).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return high


def iso(fire: float) -> str:
    return dt.datetime.fromtimestamp(fire, UTC).isoformat()


def from_iso(text: str) -> float:
    """The fire time `iso` wrote; ValueError for text it did not write."""
    return dt.datetime.fromisoformat(text).timestamp()


def make_schedule(
    task: Any,
    *,
    name: str,
    cron: str | None,
    every: float | None,
    tz: str | None,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    misfire_grace: float,
) -> Schedule:
    """A checked Schedule: ValueError/TypeError naming what is wrong."""
    if (cron is None) == (every is None):
        raise ValueError(f"schedule {name!r}: give exactly one of cron= or every=")
    if cron is not None:
        if not isinstance(cron, str) or not croniter.is_valid(cron):
            raise ValueError(f"schedule {name!r}: bad cron expression {cron!r}")
        if len(cron.split()) != 5:
            raise ValueError(
                f"schedule {name!r}: cron needs 5 fields (minute hour day month weekday), got {cron!r}"
            )
    if every is not None:
        if isinstance(every, bool) or not isinstance(every, (int, float)):
            raise TypeError(f"schedule {name!r}: every must be seconds, got {every!r}")
        if not every > 0:
            raise ValueError(f"schedule {name!r}: every must be > 0 seconds, got {every}")
        if tz is not None:
            raise ValueError(f"schedule {name!r}: tz applies to cron schedules only")
    zone = tz or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"schedule {name!r}: unknown time zone {zone!r}") from exc
    if not misfire_grace >= 0:
        raise ValueError(f"schedule {name!r}: misfire_grace must be >= 0 seconds, got {misfire_grace}")
    try:
        inspect.signature(task.fn).bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"schedule {name!r}: args do not fit {task.name}: {exc}") from None
    return Schedule(
        name,
        task.name,
        cron,
        None if every is None else float(every),
        zone,
        tuple(args),
        dict(kwargs),
        float(misfire_grace),
    )
