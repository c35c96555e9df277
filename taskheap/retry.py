"""RetryPolicy: after a failed attempt, when to run again, or dead. Pure: time and rng are inputs.

`failure_of` is the one retry decision: the worker's failure path and the Rescuer (a lost run)
both turn a failed attempt into the Failure they report with it.
"""

from __future__ import annotations

import json
import math
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
        if not all(math.isfinite(x) for x in (self.base, self.factor, self.max)):
            raise ValueError("Backoff needs finite numbers")
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
    def fixed(cls, delay: float) -> Backoff:
        """Always `delay` seconds."""
        return cls(delay, 1.0, delay, jitter=False)

    @classmethod
    def coerce(cls, value: float | Backoff) -> Backoff:
        return value if isinstance(value, Backoff) else cls(base=float(value))


def retry_delay(attempts: int, retries: int, backoff: Backoff, rng: random.Random) -> float | None:
    """After `attempts` runs (the failed one included), seconds until the next run, or None: dead.

    A job with `retries` retries runs at most `retries + 1` times. The delay is relative: the
    store adds it to its own `now`, the clock its leases are judged by, so a worker whose clock
    is off neither shortens nor stretches a backoff.
    """
    if attempts > retries:
        return None
    return backoff.delay(attempts, rng)


def failure_of(
    job: ClaimedJob,
    error: str,
    traceback: str | None,
    rng: random.Random,
    *,
    final: bool = False,
    delay: float | None = None,
) -> Failure:
    """The Failure to report for a failed attempt of `job`: retried after its backoff (or after
    `delay` seconds, when given: a task's `Retry(delay)`) while retries are left, else dead;
    `final` makes it dead at once (retrying cannot help)."""
    retry_in = None
    if not final:
        try:
            backoff = Backoff.from_json(job.backoff) if delay is None else Backoff.fixed(delay)
        except (TypeError, ValueError):  # a row written by hand: no policy to retry by
            return Failure(
                job.id, job.token, f"{error} (dead: malformed backoff {job.backoff!r})", traceback, None
            )
        retry_in = retry_delay(job.attempts, job.retries, backoff, rng)
    return Failure(job.id, job.token, error, traceback, retry_in)
