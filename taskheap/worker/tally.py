"""Tally: settled runs counted per minute, queue and task into the backend's per-minute counters
(which outlive the jobs they count), and shown to an optional observer (e.g. metrics).

Each batch adds one row per (queue, task) for the current minute and the same again under
ALL_TIME, the running totals: one `record_minutes` round trip per batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal, NamedTuple, Protocol

from ..backends.base import ALL_TIME, Backend, ClaimedJob, Failure, MinuteCount
from ..errors import BackendError

log = logging.getLogger("taskheap.worker")

Verdict = Literal["completed", "retried", "dead"]


class Settled(NamedTuple):
    job: ClaimedJob
    verdict: Verdict
    ran: float | None  # seconds the function ran; None for a lost run


class Observer(Protocol):
    """Told about each run of a Worker: a hook for metrics, called from the worker's threads."""

    def started(self, job: ClaimedJob) -> None: ...
    def settled(self, run: Settled) -> None: ...


def verdict(failure: Failure) -> Verdict:
    return "dead" if failure.retry_at is None else "retried"


def minute_rows(runs: Sequence[Settled], now: float) -> list[MinuteCount]:
    minute = int(now // 60) * 60
    rows: dict[tuple[int, str, str], MinuteCount] = {}
    for run in runs:
        for at in (minute, ALL_TIME):
            key = (at, run.job.queue, run.job.task)
            row = rows.setdefault(key, MinuteCount(at, run.job.queue, run.job.task))
            setattr(row, run.verdict, getattr(row, run.verdict) + 1)
    return list(rows.values())


def record(backend: Backend, runs: Sequence[Settled], now: float) -> None:
    """Best effort: a failed write loses this batch's counts, never the outcomes themselves."""
    if not runs:
        return
    try:
        backend.record_minutes(minute_rows(runs, now))
    except BackendError as exc:
        log.warning("could not record per-minute counters: %s", exc)
