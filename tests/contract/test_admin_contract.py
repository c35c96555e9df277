"""The backend contract for what the admin API, `taskheap top`, the dashboard and the metrics
need: keyset listing with id bounds and text search, counting, the oldest job per queue and
state, and per-minute outcome counters that outlive the jobs."""

from __future__ import annotations

import json

import taskheap
from taskheap.admin import JobFilter
from taskheap.backends.base import ALL_TIME, Failure, JobQuery, MinuteCount, NewJob
from taskheap.clock import FixedClock
from taskheap.job import JobState, encode_id, first_id_at, last_id_before
from taskheap.worker.maintenance import Rescuer

LEASE = 30.0


def raw_job(ms: int, arg: object, *, queue: str = "default", task: str = "echo", at: float = 1.0) -> NewJob:
    payload = json.dumps({"task": task, "args": [arg], "kwargs": {}})
    return NewJob(encode_id(ms, 7), task, queue, 5, 5.0, payload, at, None, 3, None, None)


def ids(app: taskheap.App, query: JobQuery) -> list[str]:
    return [r.id for r in app.backend.list_jobs(query)]


def test_keyset_pages_walk_every_job_newest_first_without_repeats(app: taskheap.App) -> None:
    app.backend.enqueue([raw_job(1000 + n, n) for n in range(7)])
    seen: list[str] = []
    before = None
    while page := ids(app, JobQuery(limit=3, before=before)):
        seen += page
        before = page[-1]
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 7


def test_id_bounds_select_a_creation_time_range(app: taskheap.App) -> None:
    app.backend.enqueue([raw_job(ms, ms) for ms in (1000, 1999, 2000, 2500, 3000)])
    query = JobQuery(after=last_id_before(2.0), before=first_id_at(3.0))
    assert ids(app, query) == [encode_id(2500, 7), encode_id(2000, 7)]
    assert [j.args for j in app.admin.find(JobFilter(since=1.999, until=2.5))] == [[2000], [1999]]


def test_text_search_matches_a_substring_of_the_payload_case_sensitively(app: taskheap.App) -> None:
    app.backend.enqueue([raw_job(1000, "alpha-needle"), raw_job(1001, "beta"), raw_job(1002, "NEEDLE")])
    assert ids(app, JobQuery(text="needle")) == [encode_id(1000, 7)]
    assert ids(app, JobQuery(text='"beta"')) == [encode_id(1001, 7)]
    assert ids(app, JobQuery(text="nowhere")) == []


def test_text_search_looks_only_at_the_scan_newest_jobs_passing_the_other_filters(
    app: taskheap.App,
) -> None:
    jobs = [raw_job(1000 + n, f"hit-{n}", queue="q" if n % 2 else "r") for n in range(8)]
    app.backend.enqueue(jobs)
    newest_two_in_q = [encode_id(1007, 7), encode_id(1005, 7)]
    assert ids(app, JobQuery(queue="q", text="hit", scan=2)) == newest_two_in_q
    assert app.backend.count_jobs(JobQuery(queue="q", text="hit", scan=2)) == 2
    assert app.backend.count_jobs(JobQuery(text="hit")) == 8


def test_count_jobs_applies_every_filter_and_ignores_the_limit(app: taskheap.App) -> None:
    app.backend.enqueue(
        [raw_job(1000 + n, n, queue="q" if n < 5 else "r", task=f"t{n % 2}") for n in range(9)]
    )
    assert app.backend.count_jobs(JobQuery(limit=1)) == 9
    assert app.backend.count_jobs(JobQuery(queue="q", task="t0")) == 3
    assert app.backend.count_jobs(JobQuery(state=JobState.QUEUED, before=encode_id(1004, 0))) == 4
    assert app.backend.count_jobs(JobQuery(ids=(encode_id(1003, 7), "nope"))) == 1


def test_oldest_gives_per_queue_the_enqueue_time_of_the_earliest_job_in_a_state(
    app: taskheap.App, clock: FixedClock
) -> None:
    oldest_a, newer_a, in_b = (1000, "a", 50.0), (1001, "a", 10.0), (1002, "b", 30.0)
    app.backend.enqueue([raw_job(ms, 0, queue=q, at=at) for ms, q, at in (oldest_a, newer_a, in_b)])
    app.backend.claim(["b"], "w1", 1, LEASE, now=clock.now())
    assert app.backend.oldest(JobState.QUEUED) == {"a": 50.0}
    assert app.backend.oldest(JobState.RUNNING) == {"b": 30.0}
    assert app.backend.oldest(JobState.DEAD) == {}


def test_minute_counters_add_up_and_read_from_a_minute_on(app: taskheap.App) -> None:
    backend = app.backend
    backend.record_minutes([MinuteCount(60, "q", "t", 1, 2, 3), MinuteCount(120, "q", "t", completed=5)])
    backend.record_minutes([MinuteCount(60, "q", "t", 10, 0, 1), MinuteCount(60, "q", "a", dead=1)])
    assert backend.minutes(0) == [
        MinuteCount(60, "q", "a", 0, 0, 1),
        MinuteCount(60, "q", "t", 11, 2, 4),
        MinuteCount(120, "q", "t", 5, 0, 0),
    ]
    assert backend.minutes(61) == [MinuteCount(120, "q", "t", 5, 0, 0)]


def test_forgetting_old_minutes_keeps_newer_ones_and_the_all_time_totals(app: taskheap.App) -> None:
    backend = app.backend
    backend.record_minutes([MinuteCount(m, "q", "t", completed=1) for m in (60, 120, 180, ALL_TIME)])
    assert backend.forget_minutes(180) == 2
    assert [row.minute for row in backend.minutes(0)] == [180, ALL_TIME]


def test_replay_and_purge_honour_the_new_filters(app: taskheap.App, clock: FixedClock) -> None:
    app.backend.enqueue([raw_job(1000 + n, f"arg-{n}") for n in range(4)])
    jobs = app.backend.claim(["default"], "w1", 10, LEASE, now=clock.now())
    app.backend.fail([Failure(j.id, j.token, "boom", None, None) for j in jobs], now=clock.now())
    assert app.admin.replay_matching(JobFilter(search="arg-1")) == 1
    assert app.admin.purge_matching(JobFilter(until=1.002)) == 1  # arg-0; arg-1 is queued now
    assert app.admin.count(JobFilter(state=JobState.DEAD)) == 2
    assert app.admin.find(JobFilter(search=encode_id(1003, 7)))[0].args == ["arg-3"]


def test_rescued_lost_runs_count_in_the_minute_and_all_time_counters(
    app: taskheap.App, clock: FixedClock
) -> None:
    app.backend.enqueue([raw_job(1000, "retry"), raw_job(1001, "die", task="fragile")])
    for job in app.backend.claim(["default"], "w1", 10, LEASE, now=clock.now()):
        if job.task == "fragile":
            app.backend.fail([Failure(job.id, job.token, "boom", None, clock.now())], now=clock.now())
    app.backend.claim(["default"], "w1", 10, LEASE, now=clock.now() + 1)
    clock.advance(LEASE + 5)
    fragile = app.backend.get(encode_id(1001, 7))
    assert fragile is not None and fragile.attempts == 2
    assert Rescuer(app.backend, app.backend).run_once(now=clock.now()) == 2
    minute = app.admin.activity(clock.now())[-1]
    assert (minute.completed, minute.retried, minute.dead) == (0, 2, 0)
    assert {(t.task, t.retried) for t in app.admin.totals()} == {("echo", 1), ("fragile", 1)}
