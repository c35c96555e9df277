"""Limits at claim (`QueueLimitsStore`): `app.queue(name, concurrency=, rate=, group_concurrency=)`
is stored when the App opens, and every claim leases only what the stored limits allow at its
`now`: at most `concurrency` of the queue's jobs running, at most `rate` starts in any window of
one period ending at `now` (sliding), at most `group_concurrency` running per group. A job holds
its slot until it leaves `running` (completed, failed, cancelled, released, postponed, or
failed by the Rescuer once its lease lapsed). A throttled job stays queued with no attempt
spent; a saturated group blocks nothing behind it; queues without limits are untouched."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import pytest

import taskheap
from taskheap.backends.base import (
    Cancellation,
    ClaimedJob,
    Completion,
    Failure,
    JobQuery,
    Lease,
    Postponement,
)
from taskheap.backends.protocols import FullBackend
from taskheap.backends.queue_limits import LimitedQueue, QueueLimits
from taskheap.clock import FixedClock
from taskheap.job import JobState
from taskheap.worker.limits import LimitsWatch
from taskheap.worker.maintenance import Rescuer

from .helpers import LEASE, args_of, declare

T0 = 1_700_000_000.0


def at(
    app: taskheap.App, now: float, limit: int = 100, queues: tuple[str, ...] = ("default",)
) -> list[ClaimedJob]:
    return app.backend.claim(list(queues), "w1", limit, LEASE, now=now)


def test_concurrency_bounds_the_jobs_running_and_a_finished_one_frees_its_slot(app: taskheap.App) -> None:
    app.queue("default", concurrency=2)
    echo = declare(app)
    for n in range(5):
        echo.enqueue(n)
    first = at(app, T0)
    assert args_of(first) == [0, 1]
    assert at(app, T0 + 1) == []
    app.backend.complete([Completion(first[0].id, first[0].token, "null")], now=T0 + 2)
    assert args_of(at(app, T0 + 3)) == [2]
    assert at(app, T0 + 4) == []


def test_rate_is_a_sliding_window_of_starts(app: taskheap.App) -> None:
    """3/s: a start at t leaves the window at t + 1 exactly; no burst of six across a second's
    boundary, as a per-second counter would allow."""
    app.queue("default", rate="3/s")
    echo = declare(app)
    for n in range(10):
        echo.enqueue(n)
    assert len(at(app, T0 + 0.9, limit=2)) == 2
    assert len(at(app, T0 + 0.95)) == 1
    assert at(app, T0 + 1.0) == []  # a new calendar second: still three starts in (0.0, 1.0]
    assert at(app, T0 + 1.8999) == []
    assert len(at(app, T0 + 1.9)) == 2  # the two of 0.9 are out of (0.9, 1.9]
    assert at(app, T0 + 1.94) == []
    assert len(at(app, T0 + 1.95)) == 1
    loaded = app.backend.limited_queues(now=T0 + 1.95)["default"]
    assert (loaded.running, loaded.started) == (6, 3)


def test_a_full_rate_window_reports_when_its_oldest_start_leaves_it(app: taskheap.App) -> None:
    """What a throttled worker sleeps until: `room_in`, from the oldest start in the window."""
    app.queue("default", rate="3/s", concurrency=10)
    echo = declare(app)
    for n in range(5):
        echo.enqueue(n)
    assert len(at(app, T0 + 0.9, limit=2)) == 2
    assert app.backend.limited_queues(now=T0 + 0.92)["default"].room_in == 0.0  # room for one
    assert len(at(app, T0 + 0.95)) == 1
    full = app.backend.limited_queues(now=T0 + 1.0)["default"]
    assert (full.started, full.room_in) == (3, pytest.approx(0.9))
    assert at(app, T0 + 1.899) == []
    assert len(at(app, T0 + 1.9)) == 2  # the two of 0.9 are out of (0.9, 1.9]
    app.queue("default", concurrency=1)
    held = app.backend.limited_queues(now=T0 + 1.95)["default"]
    assert (held.running, held.room_in) == (5, 0.0)  # full, but of slots: no rate to wait for


def test_a_rate_declared_anew_counts_the_starts_in_its_window(app: taskheap.App) -> None:
    app.queue("default", rate="2/s")
    echo = declare(app)
    for n in range(5):
        echo.enqueue(n)
    assert len(at(app, T0)) == 2
    app.backend.declare_queues({"default": QueueLimits()})
    app.backend.declare_queues({"default": QueueLimits.declared(rate="2/s")})
    assert at(app, T0 + 0.5) == []
    assert len(at(app, T0 + 1.0)) == 2


def test_group_concurrency_skips_saturated_groups_in_priority_order(app: taskheap.App) -> None:
    """A tenant with the best jobs takes its one slot; the jobs behind it (other groups, no
    group) start in priority order; a throttled job keeps its attempt unspent."""
    app.queue("default", group_concurrency=1)
    echo = declare(app)
    for n, (group, priority) in enumerate([("a", 0), ("a", 0), ("a", 1), ("b", 2), (None, 3), ("b", 4)]):
        echo.options(group=group, priority=priority).enqueue(n)
    assert args_of(at(app, T0)) == [0, 3, 4]
    assert at(app, T0 + 1) == []
    waiting = app.backend.list_jobs(JobQuery(state=JobState.QUEUED))
    assert sorted(r.attempts for r in waiting) == [0, 0, 0]


def test_a_small_claim_looks_past_many_jobs_of_a_saturated_group(app: taskheap.App) -> None:
    """Past 20 of one group to the next group's job, for a claim of 2 (stores that read the
    queue in chunks of a few times the claim's size read on)."""
    app.queue("default", group_concurrency=1)
    echo = declare(app)
    for n in range(20):
        echo.options(group="a").enqueue(n)
    echo.options(group="b").enqueue(20)
    assert args_of(at(app, T0, limit=2)) == [0, 20]
    assert at(app, T0 + 1, limit=2) == []


def test_limits_combine_and_queues_without_limits_are_untouched(app: taskheap.App) -> None:
    app.queue("api", concurrency=3, rate="2/m", group_concurrency=1)
    echo = declare(app)
    for n in range(4):
        echo.options(queue="api", group="g" if n < 2 else None).enqueue(n)
        echo.options(queue="free", priority=9).enqueue(10 + n)
    claimed = at(app, T0, queues=("api", "free"))
    assert sorted(str(a) for a in args_of(claimed)) == [
        "0",
        "10",
        "11",
        "12",
        "13",
        "2",
    ]  # api: rate 2, g one
    assert at(app, T0 + 30, queues=("api", "free")) == []
    assert args_of(at(app, T0 + 60, queues=("api",))) == [3]  # concurrency 3 now: 0, 2 and 3
    assert set(app.backend.limited_queues(now=T0 + 60)) == {"api"}


Outcome = Callable[[FullBackend, ClaimedJob, float], object]
OUTCOMES: dict[str, Outcome] = {
    "complete": lambda b, j, now: b.complete([Completion(j.id, j.token, "null")], now),
    "fail": lambda b, j, now: b.fail([Failure(j.id, j.token, "boom", None, 3600.0)], now),
    "cancel": lambda b, j, now: b.cancel_claimed([Cancellation(j.id, j.token, "stop")], now),
    "release": lambda b, j, now: b.release([Lease(j.id, j.token)]),
    "postpone": lambda b, j, now: b.postpone([Postponement(j.id, j.token, 3600.0)], now),
    "lapse and rescue": lambda b, j, now: Rescuer(b, b, random.Random(1)).run_once(now + LEASE + 1),
}


@pytest.mark.parametrize("outcome", sorted(OUTCOMES))
def test_a_slot_is_held_until_its_job_leaves_running(app: taskheap.App, outcome: str) -> None:
    app.queue("default", concurrency=1, group_concurrency=1)
    echo = declare(app)
    echo.options(group="g", priority=0).enqueue(0)
    echo.options(group="g").enqueue(1)
    (job,) = at(app, T0)
    assert at(app, T0 + LEASE + 1) == []  # a lapsed lease still holds its slot until rescued
    OUTCOMES[outcome](app.backend, job, T0 + 1)
    later = T0 + LEASE + 2
    expected = [0] if outcome == "release" else [1]
    assert args_of(at(app, later, limit=1)) == expected
    assert app.backend.limited_queues(now=later)["default"].running == 1


def test_the_declaration_is_stored_when_the_app_opens_and_a_different_one_is_warned_of(
    backend_url: str, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    first = taskheap.App(backend_url, clock=clock)
    first.queue("api", concurrency=5, rate="100/s", group_concurrency=2)
    watch = LimitsWatch(first.backend, first.declared_limits, ["api"], first.store_time)
    limits = QueueLimits(5, 100, 1.0, 2)
    assert first.backend.limited_queues() == {"api": LimitedQueue("api", limits, 0, 0)}
    second = taskheap.App(backend_url, clock=clock)
    second.queue("api", concurrency=1)
    assert second.backend.limited_queues()["api"].limits == QueueLimits(concurrency=1)
    with caplog.at_level(logging.WARNING, "taskheap.worker"):
        watch.check()
        watch.check()
    warnings = [r.getMessage() for r in caplog.records if "store holds limits" in r.getMessage()]
    assert warnings == [
        "queue api: the store holds limits concurrency=1, this worker's app declares"
        " concurrency=5 rate=100/s group_concurrency=2; the store's apply until an App declaring"
        " the queue opens (or `taskheap queues limits api --clear`)"
    ]
    assert watch.limited
    second.backend.declare_queues({"api": QueueLimits()})
    assert first.backend.limited_queues() == {}
    first.close()
    second.close()


def test_a_queue_declared_without_limits_clears_them_and_one_not_declared_keeps_them(
    backend_url: str, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    limited = taskheap.App(backend_url, clock=clock)
    limited.queue("api", concurrency=2)
    limited.queue("mail", rate="10/s")
    assert sorted(limited.backend.limited_queues()) == ["api", "mail"]
    unaware = taskheap.App(backend_url, clock=clock)  # declares neither queue: changes nothing
    assert sorted(unaware.backend.limited_queues()) == ["api", "mail"]
    redeployed = taskheap.App(backend_url, clock=clock)
    redeployed.queue("api")  # the limit deleted from the code
    assert sorted(redeployed.backend.limited_queues()) == ["mail"]
    redeployed.queue("mail", aging=60.0)  # declared after the App opened: stored at once
    assert redeployed.backend.limited_queues() == {}
    limited.queue("api", concurrency=2)
    watch = LimitsWatch(
        redeployed.backend, redeployed.declared_limits, ["api", "mail"], redeployed.store_time
    )
    assert watch.declared == {} and not watch.limited
    with caplog.at_level(logging.WARNING, "taskheap.worker"):
        watch.check()
    assert watch.limited
    assert [r.getMessage() for r in caplog.records if "store holds limits" in r.getMessage()] == [
        "queue api: the store holds limits concurrency=2, this worker's app declares none; the store's"
        " apply until an App declaring the queue opens (or `taskheap queues limits api --clear`)"
    ]
    load = unaware.admin.clear_limits("api")
    assert load is not None and load.concurrency == 2
    assert unaware.admin.clear_limits("api") is None and unaware.backend.limited_queues() == {}
    for application in (limited, unaware, redeployed):
        application.close()


def test_bad_limits_and_groups_are_refused_naming_the_value(app: taskheap.App) -> None:
    for rate in ("100", "100/d", "0/s", "1.5/s", "/s", " 5/s"):
        with pytest.raises(ValueError, match="rate must be like"):
            app.queue("api", rate=rate)
    with pytest.raises(ValueError, match="concurrency must be >= 1, got 0"):
        app.queue("api", concurrency=0)
    with pytest.raises(TypeError, match="group_concurrency must be a whole number"):
        app.queue("api", group_concurrency=1.5)  # type: ignore[arg-type]
    echo = declare(app)
    with pytest.raises(ValueError, match="group must be 1 to 200 characters"):
        echo.options(group="")
    with pytest.raises(TypeError, match="group must be a str"):
        echo.options(group=42)


def test_a_unique_job_keeps_its_group(app: taskheap.App) -> None:
    app.queue("default", group_concurrency=1)
    echo = declare(app)
    for n in range(2):
        echo.options(group="g", unique_key=f"k{n}").enqueue(n)
    assert len(at(app, T0)) == 1
