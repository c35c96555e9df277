"""The backend contract for the `enqueued` counters: enqueue adds its jobs to the row of their
enqueue minute and to the ALL_TIME row per (queue, task), in the same write as the jobs."""

from __future__ import annotations

import json

import taskheap
from taskheap.backends.base import ALL_TIME, MinuteCount, NewJob
from taskheap.job import encode_id


def new_job(n: int, *, queue: str = "q", task: str = "t", at: float = 125.0, delay: bool = False) -> NewJob:
    payload = json.dumps({"task": task, "args": [n], "kwargs": {}})
    run_at = at + 60 if delay else None
    return NewJob(encode_id(1000 + n, 7), task, queue, 5, 5.0, payload, at, run_at, 3, None, None)


def enqueued(app: taskheap.App) -> dict[tuple[int, str, str], int]:
    return {(r.minute, r.queue, r.task): r.enqueued for r in app.backend.minutes(0) if r.enqueued}


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
