"""The `Registry` contract: the workers a heartbeat registers, and `workers`, `unregister`."""

from __future__ import annotations

import taskheap
from taskheap.backends.base import Lease
from taskheap.clock import FixedClock

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
