"""What a batch of new jobs counts for: the `enqueued` counter rows (for backends that count them
above SQL), and how many it adds to each queue with a limit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from operator import attrgetter

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


def limited(jobs: Sequence[NewJob], limits: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """Per queue of the jobs that has a limit: (its max_length, how many of the jobs are for it),
    by queue name (the order every backend checks, and locks, them in)."""
    adding = Counter(j.queue for j in jobs if j.queue in limits)
    return {queue: (limits[queue], adding[queue]) for queue in sorted(adding)}


_UNIQUE_KEY = attrgetter("unique_key")


def has_unique(jobs: Sequence[NewJob]) -> bool:
    """Whether any job has a unique key (the enqueue then takes the unique path; a key is never
    empty). A C loop: about 0.1 µs a job, 0.4 µs for a call of one."""
    return any(map(_UNIQUE_KEY, jobs))


def resolved(duplicates: dict[str, str]) -> dict[str, str]:
    """new id -> the id it duplicates, followed to a stored job: a later job of a call that had
    the key of an earlier one that was itself a duplicate maps to what that one duplicates."""
    return {new: duplicates.get(held, held) for new, held in duplicates.items()}
