"""The `AdminReads` contract, what the admin API, `taskheap top`, the dashboard and the metrics
read: get, keyset listing with id bounds and text search, counting, counts per queue, state and
priority, and the oldest job per queue and state."""

from __future__ import annotations

import pytest

import taskheap
from taskheap.admin import JobFilter
from taskheap.backends.base import JobQuery
from taskheap.clock import FixedClock
from taskheap.job import JobState, encode_id, first_id_at, last_id_before

from .helpers import LEASE, declare, ids, raw_job


def test_result_times_out_while_the_job_is_unfinished(app: taskheap.App) -> None:
    handle = declare(app).enqueue(1)
    with pytest.raises(TimeoutError):
        handle.result(timeout=0.05)


def test_counts_by_queue_and_state_and_priority(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    app.enqueue_many([echo.options(queue="q1", priority=p).job(p) for p in (1, 1, 2)])
    echo.options(queue="q2", delay=10).enqueue(0)
    counts = app.stats()["queues"]
    assert counts["q1"]["queued"] == 3 and counts["q2"]["scheduled"] == 1
    assert set(counts["q1"]) == {s.value for s in JobState}
    assert app.admin.queued_by_priority()["q1"] == {1: 2, 2: 1}


def test_stats_has_the_documented_shape(app: taskheap.App) -> None:
    declare(app).enqueue(1)
    stats = app.stats()
    assert set(stats) == {"queues", "paused", "workers", "warnings"} and stats["paused"] == []
    assert all(isinstance(warning, str) for warning in stats["warnings"])
    assert stats["queues"]["default"] == {
        "queued": 1,
        "scheduled": 0,
        "running": 0,
        "retrying": 0,
        "succeeded": 0,
        "dead": 0,
        "cancelled": 0,
    }


def test_list_jobs_filters_newest_first(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    handles = [echo.options(queue="q" if i % 2 else "r").enqueue(i) for i in range(6)]
    assert [j.id for j in app.admin.jobs(queue="q")] == [h.id for h in handles[1::2]][::-1]
    assert [j.id for j in app.admin.jobs(limit=2)] == [h.id for h in handles[-2:]][::-1]
    assert app.admin.jobs(task="nope") == []


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
    jobs = [raw_job(ms, 0, queue=q, at=at) for ms, q, at in (oldest_a, newer_a, in_b)]
    app.backend.enqueue(jobs, now=clock.now())  # times of an explicit clock are stored as given
    app.backend.claim(["b"], "w1", 1, LEASE, now=clock.now())
    assert app.backend.oldest(JobState.QUEUED) == {"a": 50.0}
    assert app.backend.oldest(JobState.RUNNING) == {"b": 30.0}
    assert app.backend.oldest(JobState.DEAD) == {}
