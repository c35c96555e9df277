"""The job record: its states, the named state sets, ids, and the read-only JobInfo."""

from __future__ import annotations

import math
import os
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class JobState(StrEnum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"


#: Waiting for a due time (delay or backoff) before they become queued.
WAITING = frozenset({JobState.SCHEDULED, JobState.RETRYING})
#: Not finished: a worker in --burst mode keeps going while any of these remain.
ACTIVE = frozenset({JobState.QUEUED, JobState.RUNNING}) | WAITING
#: The states in which a job holds its unique key when it has no `unique_for` (the partial
#: unique indexes of SQLite and PostgreSQL are over these; a waiting state added later joins).
UNIQUE_STATES = ACTIVE
#: UNIQUE_STATES as an SQL list, in one fixed order.
UNIQUE_STATES_SQL = "('queued', 'scheduled', 'running', 'retrying')"
#: Finished for good; only replay (dead) brings a job back.
TERMINAL = frozenset({JobState.SUCCEEDED, JobState.DEAD, JobState.CANCELLED})
#: What replay brings back to queued: dead jobs from scratch, retrying ones now.
REPLAYABLE = frozenset({JobState.DEAD, JobState.RETRYING})
ALL_STATES = tuple(JobState)

MIN_PRIORITY, MAX_PRIORITY, DEFAULT_PRIORITY = 0, 1000, 5


QUEUE_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def check_queue_name(name: str) -> str:
    """A queue's name: 1 to 64 of A-Z a-z 0-9 _ . : - (what `--queues a,b` can list, and a URL or
    a Redis key carries unescaped)."""
    if not isinstance(name, str):
        raise TypeError(f"queue name must be a str, got {type(name).__name__}")
    if QUEUE_NAME.fullmatch(name) is None:
        raise ValueError(f"queue name {name!r} is not valid: use 1 to 64 of A-Z a-z 0-9 _ . : -")
    return name


def check_priority(priority: int) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"priority must be an int, got {type(priority).__name__}")
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValueError(
            f"priority must be in {MIN_PRIORITY}..{MAX_PRIORITY} (lower runs first), got {priority}"
        )
    return priority


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class IdGenerator:
    """ULID-style ids: 48-bit milliseconds + 80 bits, 26 Crockford base-32 characters.

    Lexicographic order is creation order; within one process ids are strictly increasing
    (the random part is incremented inside a millisecond), so FIFO holds even for a batch.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_rand = 0

    def new(self) -> str:
        return encode_id(*self._reserve(1))

    def new_many(self, n: int) -> list[str]:
        """`n` ids in creation order (one clock reading, consecutive random parts)."""
        ms, rand = self._reserve(n)
        return [encode_id(ms, rand)] if n == 1 else encode_ids(ms, rand, n)  # one: the shorter way

    def _reserve(self, n: int) -> tuple[int, int]:
        """The millisecond and the first random part of `n` consecutive ids."""
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms:
                ms = self._last_ms
                rand = self._last_rand + 1
            else:
                rand = int.from_bytes(os.urandom(10), "big") >> 1  # room to increment
            self._last_ms, self._last_rand = ms, rand + n - 1
        return ms, rand


# Every pair of digits (10 bits): an id is 13 table lookups.
_DIGIT_PAIRS = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)
_PAIR_SHIFTS = tuple(range(120, -1, -10))
_TAIL_BITS = 20  # the last four digits, which consecutive ids of a batch spell out on their own


def encode_id(ms: int, rand: int) -> str:
    """The 26-character id of millisecond `ms` with the 80-bit random part `rand`."""
    value = (ms << 80) | rand
    return "".join([_DIGIT_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


def encode_ids(ms: int, rand: int, n: int) -> list[str]:
    """`encode_id(ms, rand + i)` for i in range(n): the 22-digit head is spelled once per
    2**20 ids, each id adds its tail (two lookups)."""
    value = (ms << 80) | rand
    ids: list[str] = []
    pairs = _DIGIT_PAIRS
    while n > 0:
        tail = value & ((1 << _TAIL_BITS) - 1)
        count = min(n, (1 << _TAIL_BITS) - tail)
        head = encode_id(0, value >> _TAIL_BITS)[4:]
        ids += [head + pairs[t >> 10] + pairs[t & 1023] for t in range(tail, tail + count)]
        value += count
        n -= count
    return ids


_RAND_MAX = (1 << 80) - 1


def first_id_at(ts: float) -> str:
    """The smallest id a job created at time `ts` can have: ids sort by creation time, so
    `id < first_id_at(t)` selects the jobs created before t."""
    return encode_id(max(0, math.floor(ts * 1000)), 0)


def last_id_before(ts: float) -> str:
    """The largest id a job created before time `ts` can have: `id > last_id_before(t)`
    selects the jobs created at or after t."""
    ms = math.floor(ts * 1000)
    return encode_id(ms - 1, _RAND_MAX) if ms > 0 else encode_id(0, 0)


def id_time(job_id: str) -> float:
    """When the job with this id was created (seconds since the epoch, millisecond precision)."""
    value = 0
    for char in job_id[:10]:
        value = value * 32 + _CROCKFORD.index(char)
    return value / 1000


#: How many failed attempts a job keeps in its log (the oldest make way for newer ones).
FAILED_ATTEMPTS_KEPT = 10


@dataclass(frozen=True, slots=True)
class FailedAttempt:
    """One failed run of a job: an error, a timeout or a lost worker ("lease expired")."""

    attempt: int  # 1 for the first run; replay starts the count again
    error: str
    traceback: str | None
    worker: str | None  # the worker that ran it
    finished_at: float  # when the failure was recorded


@dataclass(frozen=True, slots=True)
class JobInfo:
    """Everything the store knows about one job, as returned by `JobHandle.info()`."""

    id: str
    task: str
    queue: str
    priority: int
    status: JobState
    attempts: int
    enqueued_at: float
    started_at: float | None  # of the last attempt
    finished_at: float | None
    error: str | None
    worker: str | None
    args: list[Any]
    kwargs: dict[str, Any]
    retries: int
    run_at: float | None
    result: Any
    traceback: str | None  # of the last failed attempt, as `error`
    #: The last FAILED_ATTEMPTS_KEPT failed attempts, oldest first.
    failed_attempts: list[FailedAttempt] = field(default_factory=list)
    headers: dict[str, Any] = field(default_factory=dict)  # as enqueued (options, middleware)
    unique_key: str | None = None  # as enqueued (unique_key, or derived by unique=True)
    #: The last progress its runs reported: current, total, message, updated_at; None if none.
    progress: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
