"""The `Waits` contract: an idle worker's wait for work (`wait_for_work`) and the fused fast
paths `wait_and_claim` and `complete_and_claim`."""

from __future__ import annotations

import time

import taskheap
from taskheap.backends.base import Completion
from taskheap.clock import FixedClock
from taskheap.job import JobState

from .helpers import LEASE, LONG_WAIT, WOKEN_WITHIN, Waiter, args_of, claim, declare


def test_complete_and_claim_acknowledges_then_claims_the_next_best(
    app: taskheap.App, clock: FixedClock
) -> None:
    echo = declare(app)
    for p in (4, 1, 3, 2):
        echo.options(priority=p).enqueue(p)
    first, second = claim(app, clock, limit=2)
    done = [Completion(first.id, first.token, "1"), Completion(second.id, first.token, "2")]  # 2nd: stale
    completed, jobs = app.backend.complete_and_claim(done, ["default"], "w1", 5, LEASE, now=clock.now())
    assert completed == [first.id]
    assert args_of(jobs) == [3, 4] and all(j.token for j in jobs)
    assert app.get_job(first.id).info().status == JobState.SUCCEEDED
    assert app.get_job(second.id).info().status == JobState.RUNNING


def test_an_idle_wait_and_claim_takes_the_job_enqueued_while_it_waits(app: taskheap.App) -> None:
    echo = declare(app)
    app.backend.claim(["default"], "w1", 1, LEASE)  # the store is set up before the wait
    waiter = Waiter(app, lambda: app.backend.wait_and_claim(["default"], "w1", 10, LEASE, LONG_WAIT))
    waiter.start_blocked()
    echo.enqueue("late")
    jobs = waiter.result()
    assert args_of(jobs) == ["late"]
    assert app.backend.get(jobs[0].id).state == JobState.RUNNING  # type: ignore[union-attr]


def test_wait_and_claim_takes_the_best_of_the_jobs_that_woke_it(app: taskheap.App) -> None:
    echo = declare(app)
    app.backend.claim(["default"], "w1", 1, LEASE)
    waiter = Waiter(app, lambda: app.backend.wait_and_claim(["default"], "w1", 2, LEASE, LONG_WAIT))
    waiter.start_blocked()
    app.enqueue_many([echo.options(priority=p).job(p) for p in (9, 2, 5)])
    assert args_of(waiter.result()) == [2, 5]


def test_work_queued_before_a_wait_ends_it_at_once(app: taskheap.App) -> None:
    """The job arrives between a worker's empty claim and its wait, and a reader looks at the
    queue meanwhile (on Redis, a read ingests the inbox: the entry a wait blocks on is gone)."""
    echo = declare(app)
    assert app.backend.claim(["default"], "w1", 1, LEASE) == []
    echo.enqueue(1)
    assert app.backend.counts()["default"]["queued"] == 1
    started = time.monotonic()
    app.backend.wait_for_work(["default"], timeout=LONG_WAIT)
    assert time.monotonic() - started < WOKEN_WITHIN, f"the wait did not end at once (timeout {LONG_WAIT} s)"
    assert args_of(app.backend.wait_and_claim(["default"], "w1", 1, LEASE, timeout=5.0)) == [1]


def test_wait_and_claim_returns_nothing_when_no_work_comes(app: taskheap.App) -> None:
    declare(app)
    started = time.monotonic()
    assert app.backend.wait_and_claim(["default"], "w1", 10, LEASE, timeout=0.3) == []
    assert 0.25 <= time.monotonic() - started < 3.0


def test_resuming_a_paused_queue_that_holds_jobs_wakes_an_idle_wait(app: taskheap.App) -> None:
    """An idle worker serving a paused queue with work sleeps until it is resumed, and the resume
    itself must wake it: no enqueue comes to do it."""
    echo = declare(app)
    app.enqueue_many([echo.options(queue="q").job(n) for n in range(3)])
    app.backend.set_paused("q", True)
    assert app.backend.counts()["q"]["queued"] == 3  # on Redis, a read ingests the inbox: no entry left
    waiter = Waiter(app, lambda: app.backend.wait_for_work(["q"], LONG_WAIT))
    waiter.start_blocked()
    app.backend.set_paused("q", False)
    waiter.result()
