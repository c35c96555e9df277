"""The `enqueued` counter rows of a batch of new jobs, for backends that count them above SQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from .base import ALL_TIME, MinuteCount, NewJob


def minute_of(ts: float) -> int:
    """The start (epoch seconds) of the minute holding `ts`."""
    return int(ts // 60) * 60


def enqueued_rows(jobs: Sequence[NewJob]) -> list[MinuteCount]:
    """One row per (enqueue minute, queue, task) and per (ALL_TIME, queue, task), by key: a
    batch of any size adds a handful of rows."""
    counted = Counter((minute_of(j.enqueued_at), j.queue, j.task) for j in jobs)
    for (_, queue, task), n in list(counted.items()):
        counted[(ALL_TIME, queue, task)] += n
    return [MinuteCount(*key, enqueued=n) for key, n in sorted(counted.items())]
