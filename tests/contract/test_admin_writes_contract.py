"""The `AdminWrites` contract: replay, purge, cancel and pause.

Replay over retrying jobs: a retrying job matching the query is queued now, its attempts and rank
kept; dead jobs still run again from scratch."""

from __future__ import annotations

import pytest

import taskheap
from taskheap.admin import JobFilter
from taskheap.backends.base import Failure, JobQuery
from taskheap.clock import FixedClock
from taskheap.job import JobState, encode_id

from .helpers import (
    JOB_ID,
    LEASE,
    claim,
    declare,
    enqueue,
    enqueue_one,
    fail_all,
    job_id,
    raw_job,
    run_and_fail,
    stored,
)


def test_replayed_dead_letter_runs_again_from_scratch(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    handles = [echo.enqueue(i) for i in range(3)]
    jobs = claim(app, clock)
    app.backend.fail([Failure(j.id, j.token, "boom", None, None) for j in jobs], now=clock.now())
    assert app.admin.replay([handles[0].id]) == 1
    assert handles[0].status() == "queued" and handles[0].info().attempts == 0
    assert app.admin.replay() == 2
    assert len(claim(app, clock)) == 3


def test_purge_deletes_dead_letters_only(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    dead, alive = echo.enqueue("dead"), echo.enqueue("alive")
    (job, _) = claim(app, clock, limit=2)
    app.backend.fail([Failure(job.id, job.token, "boom", None, None)], now=clock.now())
    assert app.admin.purge() == 1
    with pytest.raises(taskheap.JobNotFound):
        dead.info()
    assert alive.status() == "running"
    with pytest.raises(ValueError):
        app.admin.purge(state="running")


def test_paused_queue_is_not_claimed_until_resumed(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    echo.enqueue(1)
    app.admin.pause("default")
    assert claim(app, clock) == []
    app.admin.resume("default")
    assert len(claim(app, clock)) == 1


def test_cancel_stops_a_waiting_job_and_only_asks_a_running_one(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    waiting, running = echo.options(priority=9).enqueue(1), echo.options(priority=1).enqueue(2)
    claim(app, clock, limit=1)
    assert waiting.cancel() is True and waiting.status() == "cancelled"
    assert running.cancel() is True and running.status() == "running"
    with pytest.raises(taskheap.JobCancelled):
        waiting.result(timeout=1)


def test_replay_and_purge_honour_the_new_filters(app: taskheap.App, clock: FixedClock) -> None:
    app.backend.enqueue([raw_job(1000 + n, f"arg-{n}") for n in range(4)])
    jobs = app.backend.claim(["default"], "w1", 10, LEASE, now=clock.now())
    app.backend.fail([Failure(j.id, j.token, "boom", None, None) for j in jobs], now=clock.now())
    assert app.admin.replay_matching(JobFilter(search="arg-1")) == 1
    assert app.admin.purge_matching(JobFilter(until=1.002)) == 1  # arg-0; arg-1 is queued now
    assert app.admin.count(JobFilter(state=JobState.DEAD)) == 2
    assert app.admin.find(JobFilter(search=encode_id(1003, 7)))[0].args == ["arg-3"]


def test_replay_keeps_the_log_and_numbers_new_attempts_from_one(app: taskheap.App, clock: FixedClock) -> None:
    enqueue_one(app, retries=0)
    run_and_fail(app, clock, 1, retry=False)
    assert app.admin.replay([JOB_ID]) == 1
    run_and_fail(app, clock, 2, retry=False)
    assert [(a.attempt, a.error) for a in stored(app).failed_attempts] == [(1, "E1"), (1, "E2")]


def test_a_retrying_job_runs_now_with_its_attempts_kept(app: taskheap.App, clock: FixedClock) -> None:
    enqueue(app, range(2))
    fail_all(app, clock, retry=True)
    assert app.backend.replay(JobQuery(ids=(job_id(0),), state=JobState.RETRYING)) == 1
    replayed = stored(app, 0)
    assert (replayed.state, replayed.run_at, replayed.attempts) == (JobState.QUEUED, None, 1)
    assert replayed.worker == "w1" and [a.error for a in replayed.failed_attempts] == ["boom"]
    assert stored(app, 1).state == JobState.RETRYING
    (claimed,) = app.backend.claim(["q"], "w2", 10, LEASE, now=clock.now())
    assert (claimed.id, claimed.attempts) == (job_id(0), 2)


def test_a_retried_job_keeps_its_rank(app: taskheap.App, clock: FixedClock) -> None:
    enqueue(app, range(1), priority=1)
    fail_all(app, clock, retry=True)
    enqueue(app, range(1, 3), priority=9)
    assert app.admin.replay([job_id(0)], state=JobState.RETRYING) == 1
    claimed = app.backend.claim(["q"], "w1", 1, LEASE, now=clock.now())
    assert [j.id for j in claimed] == [job_id(0)]


def test_replay_by_state_leaves_the_other_state_alone(app: taskheap.App, clock: FixedClock) -> None:
    enqueue(app, range(2))
    fail_all(app, clock, retry=False)
    enqueue(app, range(2, 5))
    fail_all(app, clock, retry=True)
    assert app.admin.replay_matching(JobFilter(state=JobState.RETRYING)) == 3
    assert app.admin.count(JobFilter(state=JobState.DEAD)) == 2
    assert app.admin.replay_matching(JobFilter()) == 2  # dead by default
    assert {stored(app, n).attempts for n in range(2)} == {0}
    assert {stored(app, n).attempts for n in range(2, 5)} == {1}


def test_replay_without_a_state_takes_dead_and_retrying_jobs_only(
    app: taskheap.App, clock: FixedClock
) -> None:
    enqueue(app, range(1))
    fail_all(app, clock, retry=False)
    enqueue(app, range(1, 2))
    fail_all(app, clock, retry=True)
    enqueue(app, range(2, 3))
    ids = tuple(job_id(n) for n in range(3))
    assert app.backend.replay(JobQuery(ids=ids)) == 2
    assert [stored(app, n).attempts for n in range(3)] == [0, 1, 0]


def test_replay_honours_the_filters_for_retrying_jobs(app: taskheap.App, clock: FixedClock) -> None:
    enqueue(app, range(3), task="a")
    enqueue(app, range(3, 5), task="b")
    fail_all(app, clock, retry=True)
    assert app.admin.replay_matching(JobFilter(state=JobState.RETRYING, task="b")) == 2
    assert app.admin.count(JobFilter(state=JobState.RETRYING)) == 3
