"""The admin API over queues, on every backend: which queues are known, their listing, pausing
without inventing a queue, and purging the jobs of a queue that have not started."""

from __future__ import annotations

import time

import pytest

import taskheap
from taskheap.admin import JobFilter
from taskheap.backends.base import Failure, WorkerInfo
from taskheap.clock import FixedClock
from taskheap.job import JobState

from .helpers import BACKOFF, LEASE, declare, raw_job


def test_known_queues_hold_jobs_or_pauses_or_workers_or_a_past_enqueue(app: taskheap.App) -> None:
    echo = declare(app)
    echo.options(queue="jobs").enqueue(1)
    app.admin.pause("paused")
    app.backend.heartbeat(WorkerInfo("w1", "h", 1, ["served"], 2, 0.0, 0.0, []), [], LEASE)
    gone = echo.options(queue="emptied").enqueue(2)
    assert app.admin.purge_waiting("emptied") == 1 and app.admin.record(gone.id) is None
    assert app.admin.queue_names() == ["emptied", "jobs", "paused", "served"]
    assert app.admin.queue_names(declared=["mail"]) == ["emptied", "jobs", "mail", "paused", "served"]


def test_queues_lists_counts_pause_and_the_workers_serving_each(app: taskheap.App) -> None:
    echo = declare(app)
    echo.enqueue(1)
    echo.options(queue="bulk", delay=60).enqueue(2)
    app.admin.pause("bulk")
    app.backend.heartbeat(WorkerInfo("w1", "h", 1, ["default", "other"], 2, 0.0, 0.0, []), [], LEASE)
    lost = WorkerInfo("lost", "h", 2, ["default", "gone"], 2, 0.0, 0.0, [], lease=LEASE)
    app.backend.heartbeat(lost, [], LEASE, now=time.time() - 10 * LEASE)  # silent for ten leases
    listed = {q.name: q for q in app.admin.queues(declared=["mail"])}
    assert sorted(listed) == ["bulk", "default", "gone", "mail", "other"]
    assert listed["gone"].workers == [], "a lost worker serves nothing"
    assert listed["default"].counts["queued"] == 1 and listed["bulk"].counts["scheduled"] == 1
    assert listed["bulk"].paused and not listed["default"].paused
    assert listed["default"].workers == listed["other"].workers == ["w1"]
    assert listed["mail"].as_dict() == {
        "name": "mail",
        "counts": dict.fromkeys(map(str, JobState), 0),
        "paused": False,
        "workers": [],
        "limits": None,
    }


def test_pausing_without_create_refuses_a_queue_never_seen_and_stores_nothing(app: taskheap.App) -> None:
    declare(app).enqueue(1)
    for act in (app.admin.pause, app.admin.resume):
        with pytest.raises(taskheap.UnknownQueue, match=r"^no queue 'typo'; known: default$"):
            act("typo", create=False)
    assert app.admin.queue_names() == ["default"] and app.admin.paused() == set()
    app.admin.pause("mail", create=False, declared=["mail"])
    app.admin.pause("default", create=False)
    assert app.admin.paused() == {"default", "mail"}
    with pytest.raises(ValueError, match="queue name 'a,b' is not valid"):
        app.admin.pause("a,b")


def test_a_queue_stored_under_a_name_that_is_no_longer_valid_can_still_be_paused_and_resumed(
    app: taskheap.App,
) -> None:
    app.backend.enqueue([raw_job(1000, 1, queue="a/b")])
    app.admin.pause("a/b", create=False)
    assert app.admin.paused() == {"a/b"}
    app.admin.resume("a/b")
    assert app.admin.paused() == set()


def test_purging_a_queue_deletes_its_jobs_that_have_not_started(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    retrying, running = echo.options(queue="q").enqueue(0), echo.options(queue="q").enqueue(1)
    first, second = app.backend.claim(["q"], "w1", 2, LEASE, now=clock.now())
    app.backend.fail([Failure(first.id, first.token, "boom", None, BACKOFF)], now=clock.now())
    waiting = [echo.options(queue="q", priority=p).enqueue(p).id for p in (1, 2)]
    scheduled = echo.options(queue="q", delay=60).enqueue(3)
    elsewhere = echo.enqueue(4)
    assert app.admin.purge_waiting("q", ["scheduled"]) == 1 and app.admin.record(scheduled.id) is None
    assert app.admin.purge_waiting("q") == 3
    assert all(app.admin.record(job_id) is None for job_id in [retrying.id, *waiting])
    assert running.status() == "running" and second.id == running.id
    assert elsewhere.status() == "queued" and app.admin.queued_by_priority().get("q", {}) == {}
    assert app.admin.count(JobFilter(queue="q")) == 1
    assert app.backend.claim(["q"], "w2", 10, LEASE, now=clock.now()) == []
    with pytest.raises(ValueError, match="only queued or retrying or scheduled jobs can be purged"):
        app.admin.purge_waiting("q", ["running"])
