"""The waker's throttle on a real store: a queue whose rate's window is full is left out of the
claims until its oldest start leaves the window (read from the store), instead of being claimed
from every THROTTLE_POLL; queues beside it are still waited on and claimed from."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import taskheap
from taskheap.backends.base import ClaimedJob
from taskheap.backends.queue_limits import LimitedQueue
from taskheap.worker.claimer import Claimer
from taskheap.worker.limits import LimitsWatch


class Spy:
    """The real store, its claims (with the queues each waited on) and its reads of the
    limited queues counted."""

    def __init__(self, app: taskheap.App) -> None:
        self.app = app
        self.waits: list[list[str]] = []
        self.reads = 0
        self.in_wait = threading.Event()

    def wait_and_claim(self, queues: list[str], *args: Any) -> list[ClaimedJob]:
        self.waits.append(list(queues))
        self.in_wait.set()
        try:
            return self.app.backend.wait_and_claim(queues, *args)
        finally:
            self.in_wait.clear()

    def limited_queues(self, now: float | None = None) -> dict[str, LimitedQueue]:
        self.reads += 1
        return self.app.backend.limited_queues(now)


class Throttled:
    def __init__(self, app: taskheap.App, queues: list[str], turn: float) -> None:
        self.spy = Spy(app)
        self.batches: list[tuple[float, list[int]]] = []  # (time.monotonic(), the jobs' args)
        self.claims_before: list[int] = []  # per batch, the claims made before it
        self.returned = threading.Event()
        watch = LimitsWatch(self.spy, app.declared_limits, queues, app.store_time)  # type: ignore[arg-type]
        self.claimer = Claimer(
            self.spy,  # type: ignore[arg-type]
            queues,
            "w1",
            30.0,
            start=self._start,
            free=lambda: 20,
            on_return=self.returned.set,
            turn=turn,
            limits=watch,
        )

    def _start(self, jobs: list[ClaimedJob], claimed: float) -> None:
        if jobs:
            self.batches.append((time.monotonic(), [json.loads(j.payload)["args"][0] for j in jobs]))
            self.claims_before.append(len(self.spy.waits) - 1)

    def run_one_turn(self) -> None:
        self.claimer.begin()
        self.claimer.hand_over(20)
        assert self.returned.wait(30), "the waker's turn did not end"
        self.claimer.stop()
        self.claimer.join(5)


@pytest.fixture
def real_time_app(backend_url: str) -> Iterator[taskheap.App]:
    application = taskheap.App(backend_url, lease=30.0)  # the waker sleeps in real time
    yield application
    application.close()


def queued(app: taskheap.App, rate: str, jobs: int) -> Any:
    """The echo task, after `jobs` of it queued in "api", limited to `rate`."""
    app.queue("api", rate=rate)

    @app.task(name="echo")
    def echo(x: int) -> int:
        return x

    app.enqueue_many([echo.options(queue="api").job(n) for n in range(jobs)])
    return echo


def test_a_full_rate_window_is_not_claimed_from_until_it_opens(real_time_app: taskheap.App) -> None:
    """1/m: one start, then one empty claim and one read of when the window opens, and no claim
    of the queue for the rest of a 2.5 s turn (it claimed every 20 ms before: ~125 claims)."""
    app = real_time_app
    queued(app, "1/m", 3)
    throttled = Throttled(app, ["api"], turn=2.5)
    throttled.run_one_turn()
    assert [args for _, args in throttled.batches] == [[0]]
    assert throttled.spy.waits == [["api"], ["api"]]
    assert throttled.spy.reads == 1


def test_a_queue_beside_a_full_one_is_waited_on_and_claimed_from(real_time_app: taskheap.App) -> None:
    app = real_time_app
    echo = queued(app, "1/m", 3)
    throttled = Throttled(app, ["api", "mail"], turn=3.0)
    throttled.claimer.begin()
    throttled.claimer.hand_over(20)
    deadline = time.monotonic() + 10
    while throttled.spy.waits[-1:] != [["mail"]] or not throttled.spy.in_wait.is_set():
        assert time.monotonic() < deadline, f"the waker never waited on mail alone: {throttled.spy.waits}"
        time.sleep(0.005)
    echo.options(queue="mail").enqueue(100)
    assert throttled.returned.wait(30)
    throttled.claimer.stop()
    throttled.claimer.join(5)
    assert [args for _, args in throttled.batches] == [[0], [100]]
    assert throttled.spy.waits[:2] == [["api", "mail"], ["api", "mail"]]
    assert set(map(tuple, throttled.spy.waits[2:])) == {("mail",)}
    assert throttled.spy.reads == 1


def test_a_rate_window_is_claimed_from_again_as_soon_as_it_opens(real_time_app: taskheap.App) -> None:
    """5/s, 12 jobs: batches of 5, 5 and 2, a window apart, each after a handful of claims
    (an empty one, and one after a wake-up a little before the store's window opened)."""
    app = real_time_app
    queued(app, "5/s", 12)
    throttled = Throttled(app, ["api"], turn=4.0)
    throttled.run_one_turn()
    assert [args for _, args in throttled.batches] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    (first, _), (second, _), (third, _) = throttled.batches
    assert second - first >= 0.99 and third - second >= 0.99  # the store's window, not the waker's
    before = throttled.claims_before
    apart = [later - earlier for earlier, later in itertools.pairwise(before)]
    assert before[0] == 0 and max(apart) <= 4, apart  # ~50 apart at one claim per THROTTLE_POLL
