"""How an idle worker claims: in process, over each real backend, counting the backend calls."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import taskheap
from taskheap.worker import Worker

from ..conftest import URL_FACTORIES, wait_for


def claims_by_call(backend: Any) -> dict[str, list[str]]:
    """The ids of the jobs each claiming call of `backend` returned (the calls still do their
    work): the waker's `wait_and_claim`, the loop's `complete_and_claim`. A backend's call may
    make the other inside it (PostgreSQL's claim is its complete_and_claim with nothing to
    complete): only the outer call, the worker's, counts."""
    claimed: dict[str, list[str]] = {"wait_and_claim": [], "complete_and_claim": []}
    wait, acknowledge = backend.wait_and_claim, backend.complete_and_claim
    waiting = threading.local()

    def waited(*args: Any, **kwargs: Any) -> Any:
        waiting.now = True
        try:
            jobs = wait(*args, **kwargs)
        finally:
            waiting.now = False
        claimed["wait_and_claim"] += [job.id for job in jobs]
        return jobs

    def acknowledged(*args: Any, **kwargs: Any) -> Any:
        done, jobs = acknowledge(*args, **kwargs)
        if not getattr(waiting, "now", False):
            claimed["complete_and_claim"] += [job.id for job in jobs]
        return done, jobs

    backend.wait_and_claim, backend.complete_and_claim = waited, acknowledged
    return claimed


@pytest.mark.parametrize("kind", ["sqlite", "redis", "postgres"])
def test_at_light_load_the_waker_claims_each_job_in_its_wait(kind: str, tmp_path: Path) -> None:
    """Jobs arriving one at a time each come back from the waker's wait-and-claim, in the turn it
    keeps while its claims come back short; the loop only acknowledges them (a claim of its own
    after each would find nothing)."""
    app = taskheap.App(URL_FACTORIES[kind](tmp_path), lease=30.0)
    ran: list[int] = []
    note = app.task(name="note")(ran.append)
    claimed = claims_by_call(app.backend)
    worker = Worker(app, concurrency=4)
    worker.claimer.turn = 600.0  # one turn for the whole test: no hand-back a job could fall into
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_for(lambda: worker.claimer.handed_over, what="the waker out to claim")
        handles = []
        for i in range(10):
            handles.append(note.enqueue(i))
            wait_for(lambda i=i: len(ran) == i + 1)  # type: ignore[misc]
        assert claimed["wait_and_claim"] == [h.id for h in handles]
        assert claimed["complete_and_claim"] == [], "the loop claimed while the waker held the role"
    finally:
        worker.stop()
        thread.join(10)
        app.close()
    assert ran == list(range(10))


def test_a_timeout_is_enforced_on_time_for_a_job_the_waker_started(tmp_path: Path) -> None:
    """The waker starts the job while the loop sleeps; the loop must still fail it on time
    (not at the end of its idle sleep, IDLE_WAIT)."""
    app = taskheap.App(URL_FACTORIES["sqlite"](tmp_path), lease=30.0)
    stuck = app.task(name="stuck", timeout=0.1, retries=0)(time.sleep)
    worker = Worker(app, concurrency=2)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        overruns = []
        for _ in range(3):
            wait_for(lambda: worker.claimer.handed_over, what="the waker out to claim")
            handle = stuck.enqueue(5)
            wait_for(lambda: handle.status() == "dead")  # noqa: B023
            info = handle.info()
            assert info.started_at is not None and info.finished_at is not None
            overruns.append(info.finished_at - info.started_at - 0.1)
        assert max(overruns) < 0.4, overruns
    finally:
        worker.stop()
        thread.join(10)
        app.close()
