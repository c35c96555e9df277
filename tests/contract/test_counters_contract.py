"""The `Counters` contract: per-minute outcome counters that outlive the jobs (`record_minutes`,
`minutes`, `forget_minutes`), and the `enqueued` counters: enqueue adds its jobs to the row of
their enqueue minute and to the ALL_TIME row per (queue, task), in the same write as the jobs."""

from __future__ import annotations

import taskheap
from taskheap.backends.base import ALL_TIME, Failure, MinuteCount
from taskheap.clock import FixedClock
from taskheap.job import encode_id
from taskheap.worker.maintenance import Rescuer

from .helpers import LEASE, enqueued, new_job, raw_job


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


def test_rescued_lost_runs_count_in_the_minute_and_all_time_counters(
    app: taskheap.App, clock: FixedClock
) -> None:
    app.backend.enqueue([raw_job(1000, "retry"), raw_job(1001, "die", task="fragile")])
    for job in app.backend.claim(["default"], "w1", 10, LEASE, now=clock.now()):
        if job.task == "fragile":
            app.backend.fail([Failure(job.id, job.token, "boom", None, 0.0)], now=clock.now())
    app.backend.claim(["default"], "w1", 10, LEASE, now=clock.now() + 1)
    clock.advance(LEASE + 5)
    fragile = app.backend.get(encode_id(1001, 7))
    assert fragile is not None and fragile.attempts == 2
    assert Rescuer(app.backend, app.backend).run_once(now=clock.now()) == 2
    minute = app.admin.activity(clock.now())[-1]
    assert (minute.completed, minute.retried, minute.dead) == (0, 2, 0)
    assert {(t.task, t.retried) for t in app.admin.totals()} == {("echo", 1), ("fragile", 1)}


def test_enqueue_counts_new_jobs_per_minute_queue_and_task_and_all_time(app: taskheap.App) -> None:
    app.backend.enqueue([new_job(0), new_job(1, delay=True), new_job(2, task="u"), new_job(3, at=185.0)])
    app.backend.enqueue([new_job(4, queue="r")])
    assert enqueued(app) == {
        (120, "q", "t"): 2,
        (120, "q", "u"): 1,
        (180, "q", "t"): 1,
        (120, "r", "t"): 1,
        (ALL_TIME, "q", "t"): 3,
        (ALL_TIME, "q", "u"): 1,
        (ALL_TIME, "r", "t"): 1,
    }


def test_a_large_batch_adds_one_row_per_minute_queue_and_task(app: taskheap.App) -> None:
    app.backend.enqueue([new_job(n) for n in range(2000)])
    assert app.backend.minutes(0) == [
        MinuteCount(120, "q", "t", enqueued=2000),
        MinuteCount(ALL_TIME, "q", "t", enqueued=2000),
    ]


def test_enqueued_adds_to_the_outcome_counters_of_the_same_row(app: taskheap.App) -> None:
    app.backend.record_minutes([MinuteCount(120, "q", "t", completed=4, enqueued=1)])
    app.backend.enqueue([new_job(0)])
    assert app.backend.minutes(0)[0] == MinuteCount(120, "q", "t", completed=4, enqueued=2)


def test_the_app_counts_what_it_enqueues(app: taskheap.App) -> None:
    @app.task(name="send", queue="mail")
    def send(n: int) -> None: ...

    send.enqueue(1)
    app.enqueue_many([send.job(n) for n in range(3)])
    assert [(t.queue, t.task, t.enqueued) for t in app.admin.totals()] == [("mail", "send", 4)]
