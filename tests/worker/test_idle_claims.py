"""How an idle worker claims: in process, over each real backend, counting the backend calls."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import taskheap
from taskheap.worker import Worker

from ..conftest import URL_FACTORIES, wait_for


def count_calls(backend: Any, names: list[str]) -> Counter[str]:
    """Count calls of the backend's methods `names` (which still do their work)."""
    calls: Counter[str] = Counter()
    for name in names:
        method = getattr(backend, name)

        def counted(*args: Any, _name: str = name, _method: Any = method, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _method(*args, **kwargs)

        setattr(backend, name, counted)
    return calls


class WakerTurns:
    """Marks the waker's turns (Claimer._turn: from when the loop hands claiming over until the
    waker hands it back) and counts the loop's claims (complete_and_claim, which only
    the loop calls) made during one: the loop must only acknowledge while the waker is out."""

    def __init__(self, worker: Worker, backend: Any) -> None:
        self.out = threading.Event()
        self.loop_claims_while_out = 0
        turn, claim = worker.claimer._turn, backend.complete_and_claim

        def waker_turn() -> None:
            self.out.set()
            try:
                turn()
            finally:
                self.out.clear()

        def loop_claim(*args: Any, **kwargs: Any) -> Any:
            if self.out.is_set():
                self.loop_claims_while_out += 1
            return claim(*args, **kwargs)

        worker.claimer._turn = waker_turn  # type: ignore[method-assign]
        backend.complete_and_claim = loop_claim


@pytest.mark.parametrize("kind", ["sqlite", "redis", "postgres"])
def test_at_light_load_the_waker_claims_each_job_in_its_wait(kind: str, tmp_path: Path) -> None:
    """Jobs arriving one at a time each come back from the waker's wait-and-claim; the loop
    only acknowledges them (a claim of its own after each would find nothing): it claims only
    when the waker hands back, at the end of its turn."""
    app = taskheap.App(URL_FACTORIES[kind](tmp_path), lease=30.0)
    ran: list[int] = []
    note = app.task(name="note")(ran.append)
    calls = count_calls(app.backend, ["wait_and_claim"])
    worker = Worker(app, concurrency=4)
    waker = WakerTurns(worker, app.backend)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_for(waker.out.is_set, what="the waker out to claim")
        for i in range(10):
            note.enqueue(i)
            wait_for(lambda i=i: len(ran) == i + 1)  # type: ignore[misc]
        assert waker.loop_claims_while_out == 0, "the loop claimed while the waker was out"
        assert calls["wait_and_claim"] >= 10
    finally:
        worker.stop()
        thread.join(10)
        app.close()
    assert ran == list(range(10))


def test_a_timeout_is_enforced_on_time_for_a_job_the_waker_started(tmp_path: Path) -> None:
    """The waker starts the job while the loop sleeps; the loop must still fail it on time
    (not at the end of its idle sleep, IDLE_WAIT)."""
    app = taskheap.App(URL_FACTORIES["sqlite"](tmp_path), lease=30.0)
    stuck = app.task(name="stuck", timeout=0.1, retries=0)(time.sleep)
    worker = Worker(app, concurrency=2)
    waker = WakerTurns(worker, app.backend)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        overruns = []
        for _ in range(3):
            wait_for(waker.out.is_set, what="the waker out to claim")  # idle: the waker is the claimer
            handle = stuck.enqueue(5)
            wait_for(lambda: handle.status() == "dead")  # noqa: B023
            info = handle.info()
            assert info.started_at is not None and info.finished_at is not None
            overruns.append(info.finished_at - info.started_at - 0.1)
        assert max(overruns) < 0.4, overruns
    finally:
        worker.stop()
        thread.join(10)
        app.close()
