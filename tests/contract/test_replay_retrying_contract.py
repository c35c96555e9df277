"""The backend contract for replay over retrying jobs: a retrying job matching the query is
queued now, its attempts and rank kept; dead jobs still run again from scratch."""

from __future__ import annotations

import json

import taskheap
from taskheap.admin import JobFilter
from taskheap.backends.base import Failure, JobQuery, JobRecord, NewJob
from taskheap.clock import FixedClock
from taskheap.job import JobState, encode_id

LEASE = 30.0
BACKOFF = 3600.0


def job_id(n: int) -> str:
    return encode_id(1000 + n, 7)


def fail_all(app: taskheap.App, clock: FixedClock, *, retry: bool) -> None:
    """Claim every queued job of `q` and fail it: retrying for an hour, or dead."""
    jobs = app.backend.claim(["q"], "w1", 100, LEASE, now=clock.now())
    retry_at = clock.now() + BACKOFF if retry else None
    app.backend.fail([Failure(j.id, j.token, "boom", None, retry_at) for j in jobs], now=clock.now())


def enqueue(app: taskheap.App, numbers: range, *, priority: int = 5, task: str = "t") -> None:
    app.backend.enqueue([new_job(n, priority, task) for n in numbers])


def new_job(n: int, priority: int, task: str) -> NewJob:
    payload = json.dumps({"task": task, "args": [n], "kwargs": {}})
    return NewJob(job_id(n), task, "q", priority, float(priority), payload, 1.0, None, 3, None, None)


def stored(app: taskheap.App, n: int) -> JobRecord:
    record = app.backend.get(job_id(n))
    assert record is not None
    return record


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
