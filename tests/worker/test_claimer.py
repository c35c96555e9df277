"""The Claimer's hand-over between the loop and the waker, on a real SQLite store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import taskheap
from taskheap.backends.base import ClaimedJob
from taskheap.worker.claimer import IDLE_WAIT, Claimer
from tests.conftest import wait_for


class Harness:
    """A Claimer over one queue whose started jobs and hand-backs are recorded."""

    def __init__(self, app: taskheap.App, free: int) -> None:
        self.app = app
        self.free = free
        self.started: list[list[ClaimedJob]] = []
        self.returned = threading.Event()
        self.returns = 0

        @app.task(name="echo")
        def echo(x: int) -> int:
            return x

        self.echo = echo
        self.claimer = Claimer(
            app.backend,
            ["default"],
            "w1",
            30.0,
            start=self._start,
            free=lambda: self.free,
            on_return=self._back,
        )

    def _start(self, jobs: list[ClaimedJob]) -> None:
        if jobs:
            self.started.append(jobs)

    def _back(self) -> None:
        self.returns += 1
        self.returned.set()

    def enqueue(self, *values: int) -> None:
        self.app.enqueue_many([self.echo.job(v) for v in values])

    def claimed(self) -> list[int]:
        import json

        return [json.loads(job.payload)["args"][0] for jobs in self.started for job in jobs]

    def queued(self) -> int:
        return self.app.admin.counts().get("default", {}).get("queued", 0)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    app = taskheap.App(f"sqlite:///{tmp_path}/jobs.db")
    harness = Harness(app, free=10)
    yield harness
    harness.claimer.stop()
    harness.claimer.join(IDLE_WAIT + 1.0)
    app.close()


def test_the_loop_claims_for_its_free_slots_and_starts_what_it_claimed(harness: Harness) -> None:
    harness.enqueue(1, 2, 3, 4, 5)
    completed, claimed = harness.claimer.claim([], 3)
    assert (completed, claimed) == ([], 3)
    assert harness.claimed() == [1, 2, 3]
    assert harness.queued() == 2


def test_the_loop_may_not_claim_while_the_waker_owns_the_role(harness: Harness) -> None:
    harness.claimer.hand_over(4)
    assert harness.claimer.waiting
    with pytest.raises(RuntimeError, match="waker owns the claimer role"):
        harness.claimer.claim([], 4)


def test_a_full_claim_by_the_waker_hands_the_role_straight_back(harness: Harness) -> None:
    harness.enqueue(1, 2, 3, 4, 5)
    harness.claimer.begin()
    harness.claimer.hand_over(2)
    assert harness.returned.wait(10.0)
    assert not harness.claimer.waiting
    # free slots remained (free() says 10), yet it claimed no more: the loop claims from here
    assert harness.claimed() == [1, 2] and harness.queued() == 3


def test_the_waker_keeps_the_role_while_claims_come_back_short(harness: Harness) -> None:
    harness.claimer.begin()
    harness.claimer.hand_over(5)
    harness.enqueue(1)
    wait_for(lambda: harness.claimed() == [1], what="the first job claimed by the waker")
    harness.enqueue(2)
    wait_for(lambda: harness.claimed() == [1, 2], what="the second job claimed in the same turn")
    assert harness.returns == 0, "one turn claimed both: the role never went back in between"
    assert harness.returned.wait(IDLE_WAIT + 10.0), "the turn ends after IDLE_WAIT"
    assert harness.returns == 1 and not harness.claimer.waiting


def test_a_turn_ends_when_no_slot_is_free(harness: Harness) -> None:
    waits = []
    backend = harness.claimer.backend

    class Counted:  # the real store, its waits counted
        def wait_and_claim(self, *args: object) -> list[ClaimedJob]:
            waits.append(args)
            return backend.wait_and_claim(*args)  # type: ignore[arg-type]

    harness.claimer.backend = Counted()  # type: ignore[assignment]
    harness.free = 0
    harness.enqueue(1)
    harness.claimer.begin()
    harness.claimer.hand_over(3)
    assert harness.returned.wait(10.0)
    assert harness.claimed() == [1]
    assert len(waits) == 1, "a short claim with no slot free ends the turn: no second wait"


def test_the_loop_claims_again_once_the_role_is_back(harness: Harness) -> None:
    harness.enqueue(1, 2, 3)
    harness.claimer.begin()
    harness.claimer.hand_over(1)
    assert harness.returned.wait(10.0)
    assert harness.claimer.claim([], 5) == ([], 2)
    assert harness.claimed() == [1, 2, 3]


def test_stop_ends_a_waker_blocked_in_its_wait(harness: Harness) -> None:
    harness.claimer.begin()
    harness.claimer.hand_over(3)
    wait_for(lambda: harness.claimer.waiting, what="the waker to hold the role")
    harness.claimer.stop()
    harness.claimer.join(IDLE_WAIT + 5.0)
    assert not harness.claimer._thread.is_alive()
    assert harness.claimed() == []
