"""The Claimer's hand-over between the loop and the waker, on a real SQLite store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import taskheap
from taskheap.backends.base import ClaimedJob, Completion
from taskheap.errors import BackendError
from taskheap.worker.claimer import IDLE_WAIT, Claimer
from tests.conftest import wait_for


class Harness:
    """A Claimer over one queue whose started jobs and hand-backs are recorded."""

    def __init__(self, app: taskheap.App, free: int, turn: float = IDLE_WAIT) -> None:
        self.app = app
        self.free = free
        self.started: list[list[ClaimedJob]] = []
        self.returned = threading.Event()
        self.returns = 0
        self.waits = 0  # calls of wait_and_claim
        self.in_wait = threading.Event()  # set while the waker is inside one
        self.fail_next: BaseException | None = None  # raised by the next wait_and_claim

        @app.task(name="echo")
        def echo(x: int) -> int:
            return x

        self.echo = echo
        self.claimer = Claimer(
            self,  # type: ignore[arg-type]
            ["default"],
            "w1",
            30.0,
            start=self._start,
            free=lambda: self.free,
            on_return=self._back,
            turn=turn,
        )

    # the store the Claimer claims from: the real one, its waits counted (and failed on demand)
    def wait_and_claim(self, *args: Any) -> list[ClaimedJob]:
        self.waits += 1
        self.in_wait.set()
        try:
            if self.fail_next is not None:
                failure, self.fail_next = self.fail_next, None
                raise failure
            return self.app.backend.wait_and_claim(*args)
        finally:
            self.in_wait.clear()

    def complete_and_claim(self, *args: Any) -> tuple[list[str], list[ClaimedJob]]:
        return self.app.backend.complete_and_claim(*args)

    def complete(self, *args: Any) -> list[str]:
        return self.app.backend.complete(*args)

    def _start(self, jobs: list[ClaimedJob], claimed: float) -> None:
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
    assert harness.claimer.handed_over
    with pytest.raises(RuntimeError, match="waker owns the claimer role"):
        harness.claimer.claim([], 4)


def test_a_claim_after_a_stop_acknowledges_and_claims_nothing(harness: Harness) -> None:
    """The worker is stopped from another thread (its signals thread) at any moment, maybe
    between the loop's look at the role and its claim."""
    harness.enqueue(1, 2, 3)
    harness.claimer.claim([], 1)
    (job,) = harness.started[0]
    harness.claimer.stop()
    completed, claimed = harness.claimer.claim([Completion(job.id, job.token, "1")], 2)
    assert (completed, claimed) == ([job.id], 0)
    assert harness.app.get_job(job.id).result(timeout=1) == 1
    assert harness.queued() == 2


def test_a_full_claim_by_the_waker_hands_the_role_straight_back(harness: Harness) -> None:
    harness.enqueue(1, 2, 3, 4, 5)
    harness.claimer.begin()
    harness.claimer.hand_over(2)
    assert harness.returned.wait(10.0)
    assert not harness.claimer.handed_over
    # free slots remained (free() says 10), yet it claimed no more: the loop claims from here
    assert harness.claimed() == [1, 2] and harness.queued() == 3


def test_the_waker_keeps_the_role_while_claims_come_back_short(tmp_path: Path) -> None:
    app = taskheap.App(f"sqlite:///{tmp_path}/jobs.db")
    harness = Harness(app, free=10, turn=3.0)  # room for two enqueues and claims on a loaded machine
    harness.claimer.begin()
    harness.claimer.hand_over(5)
    harness.enqueue(1)
    wait_for(lambda: harness.claimed() == [1], what="the first job claimed by the waker")
    harness.enqueue(2)
    wait_for(lambda: harness.claimed() == [1, 2], what="the second job claimed in the same turn")
    assert harness.returns == 0, "one turn claimed both: the role never went back in between"
    assert harness.returned.wait(3.0 + 10.0), "the turn ends after its length"
    assert harness.returns == 1 and not harness.claimer.handed_over
    harness.claimer.stop()
    harness.claimer.join(5.0)
    app.close()


def test_a_turn_ends_when_no_slot_is_free(harness: Harness) -> None:
    harness.free = 0
    harness.enqueue(1)
    harness.claimer.begin()
    harness.claimer.hand_over(3)
    assert harness.returned.wait(10.0)
    assert harness.claimed() == [1]
    assert harness.waits == 1, "a short claim with no slot free ends the turn: no second wait"


def test_a_failed_wait_ends_the_turn_and_the_waker_claims_on_the_next(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.claimer.begin()
    for failure in (BackendError("Redis is down"), RuntimeError("a bug")):
        harness.returned.clear()
        harness.fail_next = failure
        harness.claimer.hand_over(2)
        assert harness.returned.wait(10.0) and not harness.claimer.handed_over
    assert any("Redis is down" in r.getMessage() for r in caplog.records)
    assert any(r.exc_info and "a bug" in str(r.exc_info[1]) for r in caplog.records), "logged, not lost"
    harness.enqueue(1)
    harness.claimer.hand_over(2)
    wait_for(lambda: harness.claimed() == [1], what="a claim by the waker that survived both")


def test_the_loop_claims_again_once_the_role_is_back(harness: Harness) -> None:
    harness.enqueue(1, 2, 3)
    harness.claimer.begin()
    harness.claimer.hand_over(1)
    assert harness.returned.wait(10.0)
    assert harness.claimer.claim([], 5) == ([], 2)
    assert harness.claimed() == [1, 2, 3]


def test_stop_ends_a_waker_blocked_in_its_wait_without_another(harness: Harness) -> None:
    harness.claimer.begin()
    harness.claimer.hand_over(3)
    wait_for(harness.in_wait.is_set, what="the waker to block in its wait")
    harness.claimer.stop()
    harness.claimer.join(IDLE_WAIT + 5.0)
    assert not harness.claimer._thread.is_alive()
    assert harness.waits == 1 and harness.claimed() == []
