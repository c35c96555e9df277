"""Tally: settled runs counted per minute, queue and task into the backend's per-minute counters
(which outlive the jobs they count), and shown to an optional observer (e.g. metrics).

Runs count in one row per (queue, task) for their minute and the same again under ALL_TIME, the
running totals. A Worker adds each settled batch to its Tally in memory and flushes it about once
a second and when it stops: one `record_minutes` round trip per flush, none on the claim loop.
The observer hears of runs when they are flushed, so what a worker reports is already stored.
The Rescuer's lost runs and the jobs the Expirer cancels, rare, are recorded at once.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple, Protocol

from ..backends.base import ALL_TIME, ClaimedJob, Expired, Failure, MinuteCount
from ..backends.protocols import Counters
from ..errors import BackendError

log = logging.getLogger("taskheap.worker")

Verdict = Literal["completed", "retried", "dead", "cancelled"]


class Settled(NamedTuple):
    job: ClaimedJob
    verdict: Verdict
    ran: float | None  # seconds the function ran; None for a lost run


class Observer(Protocol):
    """Told about each run of a Worker: a hook for metrics, called from the worker's threads
    (of a settled run once its counts are written, within about a second)."""

    def started(self, job: ClaimedJob) -> None: ...
    def settled(self, run: Settled) -> None: ...


def verdict(failure: Failure) -> Verdict:
    return "dead" if failure.retry_in is None else "retried"


_Rows = dict[tuple[int, str, str], MinuteCount]


def _count(rows: _Rows, runs: Sequence[Settled], now: float) -> None:
    """Add the runs to `rows` under the minute of `now` and under ALL_TIME."""
    _add(rows, ((run.job.queue, run.job.task, run.verdict) for run in runs), now)


def _add(rows: _Rows, outcomes: Iterable[tuple[str, str, Verdict]], now: float) -> None:
    """Add one to the counter of each (queue, task, verdict) under the minute of `now` and
    under ALL_TIME."""
    minute = int(now // 60) * 60
    for queue, task, outcome in outcomes:
        for at in (minute, ALL_TIME):
            row = rows.get((at, queue, task))
            if row is None:
                row = rows[(at, queue, task)] = MinuteCount(at, queue, task)
            setattr(row, outcome, getattr(row, outcome) + 1)


def record(counters: Counters, runs: Sequence[Settled], now: float) -> None:
    """Record the runs at once."""
    rows: _Rows = {}
    _count(rows, runs, now)
    _write(counters, list(rows.values()))


def record_expired(counters: Counters, expired: Sequence[Expired], now: float) -> None:
    """Record jobs that expired unstarted as cancelled, at once."""
    rows: _Rows = {}
    _add(rows, ((job.queue, job.task, "cancelled") for job in expired), now)
    _write(counters, list(rows.values()))


def _write(counters: Counters, rows: list[MinuteCount]) -> None:
    """Best effort: a failed write loses these counts, never the outcomes themselves."""
    if not rows:
        return
    try:
        counters.record_minutes(rows)
    except BackendError as exc:
        log.warning("could not record per-minute counters: %s", exc)


class Tally:
    """Counts settled runs in memory until `flush` writes them and then tells the observer;
    safe across threads."""

    def __init__(self, counters: Counters, observer: Observer | None = None) -> None:
        self.counters = counters
        self.observer = observer
        self._rows: _Rows = {}
        self._untold: list[Settled] = []
        self._lock = threading.Lock()

    def add(self, runs: Sequence[Settled], now: float) -> None:
        with self._lock:
            _count(self._rows, runs, now)
            if self.observer is not None:
                self._untold.extend(runs)

    def flush(self) -> None:
        with self._lock:
            rows, self._rows = self._rows, {}
            runs, self._untold = self._untold, []
        _write(self.counters, list(rows.values()))
        if self.observer is not None:
            for run in runs:
                self.observer.settled(run)


class RecentCount:
    """A worker's finished jobs: in all, and in the last minute (counted per second, so that
    adding costs a comparison and an addition). Added to by the loop, read by the heartbeat."""

    WINDOW = 60

    def __init__(self) -> None:
        self.total = 0
        self._seconds: deque[list[int]] = deque()  # [second, count], oldest first

    def add(self, n: int, now: float) -> None:
        if not n:
            return
        self.total += n
        second = int(now)
        seconds = self._seconds
        if seconds and seconds[-1][0] == second:
            seconds[-1][1] += n
        else:
            seconds.append([second, n])
            while seconds[0][0] <= second - self.WINDOW:
                seconds.popleft()

    def last_minute(self, now: float) -> int:
        start = int(now) - self.WINDOW
        return sum(n for second, n in list(self._seconds) if second > start)
