"""The progress contract (`Backend.record_progress`): a running job's progress is stored with
the store's time of the write, only with its current token (a stale run cannot write it),
replaced by the next report, kept when the run ends, and read back by a fresh backend."""

from __future__ import annotations

import json

import taskheap
from taskheap.backends.base import Completion, ProgressUpdate
from taskheap.clock import FixedClock

from .helpers import LEASE, claim, declare, rerun_of_the_first


def report(current: int, total: int | None = None, message: str | None = None) -> str:
    return json.dumps({"current": current, "total": total, "message": message})


def test_progress_is_stored_replaced_and_kept_after_the_run(
    app: taskheap.App, clock: FixedClock, backend_url: str
) -> None:
    handle = declare(app).enqueue(1)
    assert handle.info().progress is None
    (job,) = claim(app, clock)
    assert app.backend.record_progress([ProgressUpdate(job.id, job.token, report(1, 4))], now=50.0) == [
        job.id
    ]
    assert handle.info().progress == {"current": 1, "total": 4, "message": None, "updated_at": 50.0}
    update = ProgressUpdate(job.id, job.token, report(3, 4, "pages"))
    assert app.backend.record_progress([update], now=51.0) == [job.id]
    assert app.backend.complete([Completion(job.id, job.token, "1")], now=clock.now()) == [job.id]
    fresh = taskheap.App(backend_url, lease=LEASE, clock=clock)
    try:
        assert fresh.get_job(handle.id).info().progress == {
            "current": 3,
            "total": 4,
            "message": "pages",
            "updated_at": 51.0,
        }
    finally:
        fresh.close()


def test_a_stale_or_finished_run_cannot_write_progress(app: taskheap.App, clock: FixedClock) -> None:
    first, _, second = rerun_of_the_first(app, clock)
    handle = app.get_job(first.id)
    assert app.backend.record_progress([ProgressUpdate(first.id, first.token, report(9))], now=1.0) == []
    assert handle.info().progress is None
    accepted = app.backend.record_progress([ProgressUpdate(second.id, second.token, report(2))], now=2.0)
    assert accepted == [second.id]
    assert app.backend.complete([Completion(second.id, second.token, "1")], now=clock.now()) == [second.id]
    assert app.backend.record_progress([ProgressUpdate(second.id, second.token, report(5))], now=3.0) == []
    progress = handle.info().progress
    assert progress is not None and progress["current"] == 2
