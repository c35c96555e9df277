"""The core `Backend.postpone` contract: a claimed job given back unrun is scheduled, due `delay`
seconds after `now`, its attempt not spent, only with its current token; with `unknown_task`,
its `unknown_since` is the first such give-back, kept until it finishes (a replayed dead job
starts without it). A postponed job is a scheduled job to every other call: promotion, claims,
counts, listings, cancel and purge."""

from __future__ import annotations

import taskheap
from taskheap.backends.base import Completion, JobQuery, JobRecord, Postponement
from taskheap.clock import FixedClock
from taskheap.job import JobState

from .helpers import LEASE, LONG_WAIT, Waiter, args_of, claim, declare, rerun_of_the_first, run_and_fail


def test_a_postponed_job_is_scheduled_until_its_delay_then_claimed_with_the_same_attempt(
    app: taskheap.App, clock: FixedClock
) -> None:
    echo = declare(app)
    handle = echo.enqueue("later")
    (job,) = claim(app, clock)
    assert job.attempts == 1
    postponed_at = clock.now()
    assert app.backend.postpone([Postponement(job.id, job.token, 60.0)], now=postponed_at) == [job.id]
    given_back = record(app, job.id)
    assert given_back.state == JobState.SCHEDULED and given_back.run_at == postponed_at + 60.0
    assert given_back.attempts == 0 and given_back.worker is None and given_back.unknown_since is None
    clock.advance(59)
    assert claim(app, clock) == [], "not due yet"
    clock.advance(1)
    (again,) = claim(app, clock)
    assert again.id == job.id and again.attempts == 1 and again.token != job.token
    app.backend.complete([Completion(again.id, again.token, '"later"')], now=clock.now())
    assert handle.status() == "succeeded"


def test_a_postponed_retry_keeps_the_attempts_its_failures_spent(
    app: taskheap.App, clock: FixedClock
) -> None:
    handle = declare(app).enqueue(1)
    run_and_fail(app, clock, 1)
    app.backend.promote_due(now=clock.now())
    (second,) = claim(app, clock)
    assert second.attempts == 2
    assert app.backend.postpone([Postponement(second.id, second.token, 5.0)], now=clock.now()) == [second.id]
    assert record(app, second.id).attempts == 1
    clock.advance(5)
    assert app.backend.promote_due(now=clock.now()) == 1, "promoted as a delayed job is"
    (third,) = claim(app, clock)
    assert third.attempts == 2
    assert [a.attempt for a in record(app, handle.id).failed_attempts] == [1], "a postponement is no failure"


def test_a_stale_token_postpones_nothing(app: taskheap.App, clock: FixedClock) -> None:
    first, other, rerun = rerun_of_the_first(app, clock)
    stale = [Postponement(first.id, first.token, 60.0), Postponement(other.id, rerun.token, 60.0)]
    assert app.backend.postpone(stale, now=clock.now()) == []
    for job_id, attempts in ((first.id, 2), (other.id, 1)):
        running = record(app, job_id)
        assert running.state == JobState.RUNNING and running.attempts == attempts
    assert app.backend.complete([Completion(rerun.id, rerun.token, "1")], now=clock.now()) == [rerun.id]
    assert app.backend.postpone([Postponement(rerun.id, rerun.token, 60.0)], now=clock.now()) == []
    assert record(app, rerun.id).state == JobState.SUCCEEDED


def test_postpone_takes_a_batch_across_queues_and_returns_only_those_it_postponed(
    app: taskheap.App, clock: FixedClock
) -> None:
    echo = declare(app)
    echo.options(queue="a").enqueue("a")
    echo.options(queue="b").enqueue("b")
    echo.options(queue="b").enqueue("kept")
    a, b, kept = claim(app, clock, queues=("a", "b"))
    items = [Postponement(a.id, a.token, 10.0), Postponement(b.id, b.token, 20.0, unknown_task=True)]
    stale = Postponement(kept.id, "1.x@b", 1.0)
    assert sorted(app.backend.postpone([*items, stale], now=clock.now())) == sorted([a.id, b.id])
    assert app.backend.postpone([], now=clock.now()) == []
    counts = app.backend.counts()
    assert counts["a"] == {"scheduled": 1} and counts["b"] == {"scheduled": 1, "running": 1}
    assert record(app, a.id).unknown_since is None and record(app, b.id).unknown_since == clock.now()


def test_unknown_since_is_the_first_give_back_for_an_unknown_task_and_is_kept(
    app: taskheap.App, clock: FixedClock
) -> None:
    job_id = declare(app).enqueue(1).id
    first_at = clock.now()
    for unknown_task in (True, True, False):
        (job,) = claim(app, clock)
        app.backend.postpone([Postponement(job.id, job.token, 0.0, unknown_task)], now=clock.now())
        assert record(app, job_id).unknown_since == first_at
        clock.advance(30)
    run_and_fail(app, clock, 1)
    retrying = record(app, job_id)
    assert retrying.state == JobState.RETRYING and retrying.unknown_since == first_at
    run_and_fail(app, clock, 2, retry=False)
    dead = record(app, job_id)
    assert dead.state == JobState.DEAD and dead.unknown_since == first_at, "kept on the dead letter"
    assert app.backend.replay(JobQuery(state=JobState.DEAD)) == 1
    assert record(app, job_id).unknown_since is None, "a replayed dead job starts afresh"


def test_a_job_postponed_without_an_unknown_task_has_no_unknown_since(
    app: taskheap.App, clock: FixedClock
) -> None:
    declare(app).enqueue(1)
    (job,) = claim(app, clock)
    app.backend.postpone([Postponement(job.id, job.token, 0.0)], now=clock.now())
    assert record(app, job.id).unknown_since is None
    assert app.backend.list_jobs(JobQuery())[0].unknown_since is None


def test_a_postponed_job_is_counted_listed_cancelled_and_purged_as_a_scheduled_job(
    app: taskheap.App, clock: FixedClock
) -> None:
    echo = declare(app)
    handles = [echo.enqueue(n) for n in range(3)]
    jobs = claim(app, clock)
    postponed_at = clock.now()
    items = [Postponement(j.id, j.token, 3600.0, unknown_task=True) for j in jobs[:2]]
    app.backend.postpone(items, now=postponed_at)
    assert app.backend.counts()["default"] == {"scheduled": 2, "running": 1}
    listed = app.backend.list_jobs(JobQuery(state=JobState.SCHEDULED))
    assert [r.id for r in listed] == [jobs[1].id, jobs[0].id]
    assert all(r.unknown_since == postponed_at and r.run_at == postponed_at + 3600.0 for r in listed)
    assert app.backend.count_jobs(JobQuery(state=JobState.SCHEDULED, queue="default")) == 2
    assert app.backend.oldest(JobState.SCHEDULED)["default"] == record(app, jobs[0].id).enqueued_at
    assert app.backend.cancel(jobs[0].id, now=clock.now())
    assert handles[0].status() == "cancelled"
    assert app.backend.purge(JobQuery(state=JobState.SCHEDULED)) == 1
    assert app.backend.get(jobs[1].id) is None
    assert app.backend.counts()["default"] == {"cancelled": 1, "running": 1}


def record(app: taskheap.App, job_id: str) -> JobRecord:
    found = app.backend.get(job_id)
    assert found is not None
    return found


def test_a_postponement_wakes_an_idle_wait_to_read_the_new_due_time(app: taskheap.App) -> None:
    """Like a retry's new due time: the idle workers of the queue look again (and then sleep no
    longer than until the job is due)."""
    echo = declare(app)
    echo.enqueue(1)
    (job,) = app.backend.claim(["default"], "w1", 1, LEASE)
    waiter = Waiter(app, lambda: app.backend.wait_for_work(["default"], LONG_WAIT)).start_blocked()
    assert app.backend.postpone([Postponement(job.id, job.token, 3600.0)]) == [job.id]
    waiter.result()
    assert args_of(app.backend.claim(["default"], "w1", 1, LEASE)) == []
