"""The heartbeat reports a lease lost only for a job the worker still holds."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence

import pytest

import taskheap
from taskheap.backends.base import ClaimedJob, Completion, Lease, WorkerInfo
from taskheap.worker.heartbeat import Heartbeat
from taskheap.worker.inflight import InFlight


@pytest.fixture
def app(backend_url: str) -> Iterator[taskheap.App]:
    application = taskheap.App(backend_url, lease=30.0)

    @application.task(name="echo")
    def echo(x: int) -> int:
        return x

    echo.enqueue(1)
    yield application
    application.close()


def _claimed(app: taskheap.App) -> ClaimedJob:
    (job,) = app.backend.claim(["default"], "w1", 1, 30.0)
    return job


def _beat(app: taskheap.App, held: Callable[[], Sequence[Lease]]) -> list[set[str]]:
    """One heartbeat over the leases `held` returns; the sets of ids it reported lost."""
    lost: list[set[str]] = []
    info = WorkerInfo("w1", "host", 1, ["default"], 1, time.time())
    Heartbeat(app.backend, info, 30.0, held, lost.append, lambda ids, at: None, lambda info: None).run_once()
    return lost


def test_a_job_acknowledged_during_the_heartbeat_is_not_reported_lost(app: taskheap.App) -> None:
    """The loop takes a finished job off the in-flight table, then completes it; a heartbeat
    that read the leases just before finds it no longer running. Under a flood that race came
    up at every heartbeat: "lost the lease of 58 job(s) (taken over after expiry)" for jobs that
    had simply succeeded."""
    job = _claimed(app)
    inflight = InFlight()
    inflight.add([job], time.monotonic())
    acknowledged: list[str] = []

    def held_while_the_loop_acknowledges() -> Sequence[Lease]:
        leases = inflight.leases()
        if not acknowledged:  # the loop, between this read and the heartbeat's write
            inflight.pop(job.id)
            acknowledged.extend(app.backend.complete([Completion(job.id, job.token, "1")]))
        return leases

    assert _beat(app, held_while_the_loop_acknowledges) == []
    assert acknowledged == [job.id]


def test_a_job_still_held_whose_lease_is_gone_is_reported_lost(app: taskheap.App) -> None:
    job = _claimed(app)
    inflight = InFlight()
    inflight.add([dataclasses.replace(job, token="another run's")], time.monotonic())
    assert _beat(app, inflight.leases) == [{job.id}]
