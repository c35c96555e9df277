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
