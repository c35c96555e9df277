"""The `Registry` contract: the workers a heartbeat registers (with the task names they run, their
lease and throughput), `workers` (with each one's silence by the store's clock), `unregister`
and `forget_workers`."""

from __future__ import annotations

import time
from dataclasses import replace

import taskheap
from taskheap.backends.base import Lease, WorkerInfo
from taskheap.clock import FixedClock
from tests.conftest import wait_for

from .helpers import LEASE, _worker, claim, declare


def test_heartbeat_extends_leases_and_registers_the_worker(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    echo.enqueue(1)
    (job,) = claim(app, clock)
    clock.advance(LEASE - 1)
    owned = app.backend.heartbeat(_worker("w1", [job.id]), [Lease(job.id, job.token)], LEASE, now=clock.now())
    assert owned == {job.id}
    beat_at = clock.now()
    clock.advance(LEASE - 1)
    assert app.backend.expired(10, now=clock.now()) == []
    (worker,) = app.backend.workers()
    assert worker.id == "w1" and worker.jobs == [job.id] and worker.last_seen == beat_at
    app.backend.unregister("w1")
    assert app.backend.workers() == []


def test_forget_workers_drops_those_silent_longer_than_the_given_seconds(
    app: taskheap.App, clock: FixedClock
) -> None:
    app.backend.heartbeat(_worker("old"), [], LEASE, now=clock.now())
    clock.advance(100)
    app.backend.heartbeat(_worker("new"), [], LEASE, now=clock.now())
    assert app.backend.forget_workers(150, now=clock.now()) == 0
    assert app.backend.forget_workers(50, now=clock.now()) == 1
    assert [w.id for w in app.backend.workers()] == ["new"]


def test_a_heartbeat_records_the_worker_s_tasks_lease_and_throughput(
    app: taskheap.App, clock: FixedClock
) -> None:
    worker = WorkerInfo(
        "w1", "host", 7, ["a", "b"], 4, 10.0, 0.0, ["j1"], ["tasks.add", "tasks.mul"], 12.5, 42, 7
    )
    app.backend.heartbeat(worker, [], LEASE, now=clock.now())
    (read,) = app.backend.workers()
    assert read == replace(worker, last_seen=clock.now(), silent_for=read.silent_for)
    worker.tasks, worker.jobs, worker.processed, worker.per_minute = [], [], 50, 0
    clock.advance(1)
    app.backend.heartbeat(worker, [], LEASE, now=clock.now())
    (read,) = app.backend.workers()
    assert read == replace(worker, last_seen=clock.now(), silent_for=read.silent_for)


def test_silent_for_is_the_time_since_the_last_heartbeat_by_the_store_s_clock(app: taskheap.App) -> None:
    """Read at `workers()`, never stored: right after a heartbeat by the store's clock, no more
    than the time the two calls took; growing while the worker says nothing; a heartbeat stamped
    100 s before another is 100 s more silent at the same read."""
    fresh, took = timed_heartbeat(app, "now")
    assert 0.0 <= fresh.silent_for <= took
    app.backend.heartbeat(_worker("quiet"), [], LEASE, now=fresh.last_seen - 100.0)
    silent = {w.id: w.silent_for for w in app.backend.workers()}
    assert abs(silent["quiet"] - silent["now"] - 100.0) < 1e-3
    wait_for(lambda: silence_of(app, "now") >= 0.5, what="the worker's silence to grow")
    assert [w.last_seen for w in app.backend.workers() if w.id == "now"] == [fresh.last_seen]
    again, took = timed_heartbeat(app, "now")
    assert again.last_seen > fresh.last_seen and again.silent_for <= took, "a heartbeat ends the silence"


def timed_heartbeat(app: taskheap.App, worker_id: str) -> tuple[WorkerInfo, float]:
    """A heartbeat by the store's clock, then the worker as read back, and the seconds both took
    (a bound on its silence then: the store's clock and this one run at the same rate)."""
    started = time.monotonic()
    app.backend.heartbeat(_worker(worker_id), [], LEASE)
    (worker,) = [w for w in app.backend.workers() if w.id == worker_id]
    return worker, time.monotonic() - started + CLOCK_GRAIN


CLOCK_GRAIN = 0.002  # seconds: the stores' clocks tick in microseconds; floats round below that


def silence_of(app: taskheap.App, worker_id: str) -> float:
    (worker,) = [w for w in app.backend.workers() if w.id == worker_id]
    return worker.silent_for
