"""What a running task can ask of its job (`current_job()`), and what it can tell the worker
by raising (`Retry`, `Snooze`, `Fail`, `Cancel`).

The worker sets the running job in a contextvar around each run, in thread slots and in a
process slot's child alike; the JobContext is built only when a task asks for it, so a job that
never asks costs one contextvar set and reset.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from . import progress
from .backends.base import ClaimedJob
from .codec import headers_of


@dataclass(frozen=True, slots=True)
class JobContext:
    """The running job: `attempt` is 1 on the first run; `retries` the retries allowed in
    total (a job runs at most `retries + 1` times, snoozes aside); `enqueued_at` when it was
    enqueued (epoch seconds, by the producer's App clock)."""

    id: str
    task: str
    queue: str
    priority: int
    attempt: int
    retries: int
    headers: dict[str, Any] = field(default_factory=dict)
    enqueued_at: float = 0.0
    #: The run's lease token, which its progress reports carry: a stale run's are never written.
    _token: str = field(default="", repr=False, compare=False)

    @property
    def scheduled_for(self) -> float | None:
        """The fire time (epoch seconds) of a periodic job, from its `scheduled_for` header."""
        fire = self.headers.get("scheduled_for")
        return float(fire) if isinstance(fire, (int, float)) and not isinstance(fire, bool) else None

    @property
    def cancelled(self) -> bool:
        """True once a cancel was requested for this run (`JobHandle.cancel()`): the worker
        learns of it within about a second. A thread-pool or process-pool task polls this and
        returns (or raises) early; an async task's coroutine is cancelled for it; a process
        child still running the worker's cancel grace later is killed."""
        return self.id in _cancel_requested or _child_flag()

    def progress(self, current: float, total: float | None = None, message: str | None = None) -> None:
        """Report how far the run got (numbers >= 0; `message` at most 200 characters; else
        ValueError/TypeError). Written by the worker at most about once a second, the last
        report kept, and flushed before the job's end is acknowledged; read in
        `JobInfo.progress`. Kept as last written when the run ends, until a later run reports."""
        progress.report(self.id, self._token, progress.encode(current, total, message))


#: The ids of this process's running jobs with a cancel request, kept by the worker's control
#: thread (worker/control.py). Set operations are atomic under the GIL; only those threads write.
_cancel_requested: set[str] = set()


def _no_flag() -> bool:
    return False


#: In a process-pool child: its slot's shared flag, set by the worker for the job it runs.
_child_flag: Callable[[], bool] = _no_flag


def use_child_flag(flag: Callable[[], bool]) -> None:
    """(A process-pool child, once.) `cancelled` also reads this flag of its slot."""
    global _child_flag
    _child_flag = flag


def mark_cancel_requested(job_ids: set[str], requested: bool) -> None:
    """(A worker's control thread.) These running jobs have a cancel request; or, with
    `requested` False, are no longer running here."""
    if requested:
        _cancel_requested.update(job_ids)
    else:
        _cancel_requested.difference_update(job_ids)


#: The claimed job running in this context: set and reset around each run by the worker
#: (worker/runner.py), read by `current_job()`.
running_job: ContextVar[ClaimedJob] = ContextVar("taskheap_running_job")


def current_job() -> JobContext:
    """The JobContext of the job this code runs in; LookupError outside a job."""
    try:
        job = running_job.get()
    except LookupError:
        raise LookupError("current_job(): not inside a taskheap job") from None
    return context_of(job, headers_of(job.meta))


def context_of(job: ClaimedJob, headers: dict[str, Any]) -> JobContext:
    """The JobContext of a claimed job with the headers read from its meta (a malformed one has
    made the job dead before it ran)."""
    return JobContext(
        job.id,
        job.task,
        job.queue,
        job.priority,
        job.attempts,
        job.retries,
        headers,
        float(job.enqueued_at),
        job.token,
    )


class JobControl(BaseException):
    """Raised by a task to tell the worker what becomes of its job. A BaseException, so that a
    task's `except Exception:` does not swallow it."""


class Fail(JobControl):
    """Dead now, whatever retries are left; the job's error is "Fail: <reason>"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Cancel(JobControl):
    """Cancelled now, not retried and not a dead letter; the job's error is the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Retry(JobControl):
    """A failed attempt, run again in `delay` seconds while retries are left (else dead);
    `delay=None`: after the task's backoff, as any failure."""

    def __init__(self, delay: float | None = None) -> None:
        super().__init__(delay)
        self.delay = None if delay is None else _seconds("Retry", delay)

    def __str__(self) -> str:
        return "after the backoff" if self.delay is None else f"in {self.delay:g}s"


class Snooze(JobControl):
    """Run again in `delay` seconds; this attempt is not spent and no failure is logged."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.delay = _seconds("Snooze", delay)

    def __str__(self) -> str:
        return f"for {self.delay:g}s"


def _seconds(name: str, delay: float) -> float:
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay < math.inf:
        raise ValueError(f"{name} delay must be a number of seconds >= 0, got {delay!r}")
    return float(delay)
