"""Helpers the contract modules share: declaring the echo task, claiming, building raw jobs
for the backend seam, reading back what a backend stored, and running a wait for work that the
test wakes (Waiter)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import taskheap
from taskheap.backends.base import ClaimedJob, Failure, JobQuery, JobRecord, NewJob, WorkerInfo
from taskheap.backends.postgres import PostgresBackend
from taskheap.backends.redis import RedisBackend
from taskheap.clock import FixedClock
from taskheap.job import encode_id
from tests.blocked import LONG_WAIT, WOKEN_WITHIN, postgres_listeners, redis_blockers
from tests.conftest import wait_for

LEASE = 30.0
BACKOFF = 3600.0
JOB_ID = encode_id(1000, 7)


def declare(app: taskheap.App) -> taskheap.Task:  # type: ignore[type-arg]
    @app.task(name="echo")
    def echo(x: object) -> object:
        return x

    return echo


def claim(
    app: taskheap.App,
    clock: FixedClock,
    limit: int = 100,
    queues: tuple[str, ...] = ("default",),
    worker: str = "w1",
) -> list[ClaimedJob]:
    return app.backend.claim(list(queues), worker, limit, LEASE, now=clock.now())


def args_of(jobs: list[ClaimedJob]) -> list[object]:
    return [json.loads(j.payload)["args"][0] for j in jobs]


def _raw_job(job_id: str, payload: str) -> NewJob:
    return NewJob(job_id, "echo", "default", 5, 5.0, payload, 1.0, None, 3, None, None)


def _worker(worker_id: str, jobs: list[str] | None = None) -> WorkerInfo:
    return WorkerInfo(worker_id, "host", 1, ["default"], 4, 0.0, 0.0, jobs or [])


def raw_job(ms: int, arg: object, *, queue: str = "default", task: str = "echo", at: float = 1.0) -> NewJob:
    payload = json.dumps({"task": task, "args": [arg], "kwargs": {}})
    return NewJob(encode_id(ms, 7), task, queue, 5, 5.0, payload, at, None, 3, None, None)


def ids(app: taskheap.App, query: JobQuery) -> list[str]:
    return [r.id for r in app.backend.list_jobs(query)]


def new_job(n: int, *, queue: str = "q", task: str = "t", at: float = 125.0, delay: bool = False) -> NewJob:
    payload = json.dumps({"task": task, "args": [n], "kwargs": {}})
    run_at = at + 60 if delay else None
    return NewJob(encode_id(1000 + n, 7), task, queue, 5, 5.0, payload, at, run_at, 3, None, None)


def enqueued(app: taskheap.App) -> dict[tuple[int, str, str], int]:
    return {(r.minute, r.queue, r.task): r.enqueued for r in app.backend.minutes(0) if r.enqueued}


def enqueue_one(app: taskheap.App, retries: int = 20) -> None:
    payload = json.dumps({"task": "echo", "args": [1], "kwargs": {}})
    app.backend.enqueue([NewJob(JOB_ID, "echo", "default", 5, 5.0, payload, 1.0, None, retries, None, None)])


def run_and_fail(
    app: taskheap.App, clock: FixedClock, n: int, *, worker: str = "w1", retry: bool = True
) -> ClaimedJob:
    """Claim the job and fail its run `n` with error `E{n}` and traceback `T{n}`."""
    app.backend.promote_due(now=clock.now())
    (job,) = app.backend.claim(["default"], worker, 1, LEASE, now=clock.now())
    retry_in = 0.0 if retry else None
    app.backend.fail([Failure(job.id, job.token, f"E{n}", f"T{n}", retry_in)], now=clock.now())
    return job


def rerun_of_the_first(app: taskheap.App, clock: FixedClock) -> tuple[ClaimedJob, ClaimedJob, ClaimedJob]:
    """Two echo jobs claimed; the first failed and claimed again: (its first run, the other job,
    its rerun). The first run's token is stale, and so is the rerun's for the other job."""
    echo = declare(app)
    echo.enqueue(1)
    echo.enqueue(2)
    first, other = claim(app, clock)
    app.backend.fail([Failure(first.id, first.token, "boom", None, 0.0)], now=clock.now())
    app.backend.promote_due(now=clock.now())
    (rerun,) = claim(app, clock)
    assert rerun.id == first.id
    return first, other, rerun


def job_id(n: int) -> str:
    return encode_id(1000 + n, 7)


def stored(app: taskheap.App, n: int = 0) -> JobRecord:
    """The stored record of job `n` (job 0 is JOB_ID, the job of `enqueue_one`)."""
    record = app.backend.get(job_id(n))
    assert record is not None
    return record


def fail_all(app: taskheap.App, clock: FixedClock, *, retry: bool) -> None:
    """Claim every queued job of `q` and fail it: retrying for an hour, or dead."""
    jobs = app.backend.claim(["q"], "w1", 100, LEASE, now=clock.now())
    retry_in = BACKOFF if retry else None
    app.backend.fail([Failure(j.id, j.token, "boom", None, retry_in) for j in jobs], now=clock.now())


def enqueue(app: taskheap.App, numbers: range, *, priority: int = 5, task: str = "t") -> None:
    app.backend.enqueue([ranked_job(n, priority, task) for n in numbers])


def ranked_job(n: int, priority: int, task: str) -> NewJob:
    payload = json.dumps({"task": task, "args": [n], "kwargs": {}})
    return NewJob(job_id(n), task, "q", priority, float(priority), payload, 1.0, None, 3, None, None)


SQLITE_SETTLE = 0.2  # seconds: see Waiter

T = TypeVar("T")


class Waiter(Generic[T]):
    """A backend call that waits for work (with a LONG_WAIT timeout) in a thread of its own: the
    test acts once it is blocked, then checks that it was woken rather than timed out.

    Blocked is each backend's own sign of it (tests/blocked.py): on PostgreSQL, a listening
    connection idle after its idle check; on Redis, a client newly blocked in BLMOVE. SQLite
    shows nothing of a reader that polls `PRAGMA data_version`: there it is a wait still going
    SQLITE_SETTLE seconds on. Woken is the call returning within WOKEN_WITHIN; on Redis, also its
    client unblocked the moment the wake-up's command returns (Redis serves a blocked client
    before the next command), since `wait_and_claim` blocks at most MAX_BLOCK there per call."""

    def __init__(self, app: taskheap.App, call: Callable[[], T]) -> None:
        self.outcome: list[T] = []
        self.thread = threading.Thread(target=lambda: self.outcome.append(call()), daemon=True)
        backend = app.backend
        self.redis = isinstance(backend, RedisBackend)
        if isinstance(backend, PostgresBackend):
            self.waiting = postgres_listeners(backend)
        elif isinstance(backend, RedisBackend):
            self.waiting = redis_blockers(backend)
        else:
            self.waiting = _still_going_after(SQLITE_SETTLE)

    def blocked(self) -> bool:
        if not self.thread.is_alive():
            raise AssertionError("the idle wait returned before it blocked")
        return self.waiting() > 0

    def start_blocked(self) -> Waiter[T]:
        """Start the wait and return once it is blocked (past its first look at the store)."""
        self.thread.start()
        wait_for(self.blocked, what="the idle wait to block")
        return self

    def result(self) -> T:
        """What the call returned, once woken (call it right after the act that should wake it)."""
        if self.redis:
            assert self.waiting() == 0, "the wake-up left the wait blocked in BLMOVE"
        self.thread.join(WOKEN_WITHIN)
        assert not self.thread.is_alive(), f"the wait was not woken (its timeout is {LONG_WAIT} s)"
        assert self.outcome, "the wait raised (see the thread's exception above)"
        return self.outcome[0]


def _still_going_after(seconds: float) -> Callable[[], int]:
    first: list[float] = []

    def settled() -> int:
        first.append(time.monotonic())
        return int(first[-1] - first[0] >= seconds)

    return settled
