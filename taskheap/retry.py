"""RetryPolicy: after a failed attempt, when to run again, or dead. Pure: time and rng are inputs.

`failure_of` is the one retry decision: the worker's failure path and the Rescuer (a lost run)
both turn a failed attempt into the Failure they report with it.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from .backends.base import ClaimedJob, Failure

MAX_BACKOFF = 600.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """Wait `base × factor^(attempt-1)` seconds, capped at `max`; with `jitter`, a uniform
    draw from [0, that] ("full jitter"), so retries of many failed jobs spread out."""

    base: float = 1.0
    factor: float = 2.0
    max: float = MAX_BACKOFF
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.base < 0 or self.factor < 1 or self.max < 0:
            raise ValueError("Backoff needs base >= 0, factor >= 1 and max >= 0")

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.max, self.base * self.factor ** max(attempt - 1, 0))
        return rng.uniform(0.0, ceiling) if self.jitter else ceiling

    def to_json(self) -> str:
        return json.dumps([self.base, self.factor, self.max, self.jitter])

    @classmethod
    def from_json(cls, text: str | None) -> Backoff:
        if not text:
            return cls()
        base, factor, cap, jitter = json.loads(text)
        return cls(float(base), float(factor), float(cap), bool(jitter))

    @classmethod
    def coerce(cls, value: float | Backoff) -> Backoff:
        return value if isinstance(value, Backoff) else cls(base=float(value))


def next_run_at(
    attempts: int, retries: int, backoff: Backoff, now: float, rng: random.Random
) -> float | None:
    """After `attempts` runs (the failed one included), the time of the next run, or None: dead.

    A job with `retries` retries runs at most `retries + 1` times.
    """
    if attempts > retries:
        return None
    return now + backoff.delay(attempts, rng)


def failure_of(
    job: ClaimedJob, error: str, traceback: str | None, now: float, rng: random.Random, *, final: bool = False
) -> Failure:
    """The Failure to report for a failed attempt of `job` at `now`: retried after its backoff
    while retries are left, else dead; `final` makes it dead at once (retrying cannot help)."""
    retry_at = None
    if not final:
        retry_at = next_run_at(job.attempts, job.retries, Backoff.from_json(job.backoff), now, rng)
    return Failure(job.id, job.token, error, traceback, retry_at)
