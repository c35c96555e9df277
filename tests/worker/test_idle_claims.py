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


@pytest.mark.parametrize("kind", ["sqlite", "redis", "postgres"])
def test_at_light_load_the_waker_claims_each_job_in_its_wait(kind: str, tmp_path: Path) -> None:
    """Jobs arriving one at a time each come back from the waker's wait-and-claim; the loop
    only acknowledges them (a claim of its own after each would find nothing)."""
    app = taskheap.App(URL_FACTORIES[kind](tmp_path), lease=30.0)
    ran: list[int] = []
    note = app.task(name="note")(ran.append)
    calls = count_calls(app.backend, ["wait_and_claim", "complete_and_claim"])  # the waker's, the loop's
    worker = Worker(app, concurrency=4)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_for(lambda: calls["wait_and_claim"] > 0)
        loop_claims, started = calls["complete_and_claim"], time.monotonic()
        for i in range(10):
            note.enqueue(i)
            wait_for(lambda i=i: len(ran) == i + 1)  # type: ignore[misc]
            time.sleep(0.02)
        seconds = time.monotonic() - started
        assert (
            calls["complete_and_claim"] - loop_claims <= 1 + seconds
        )  # one when the waker hands back, a second at most
        assert calls["wait_and_claim"] >= 10
    finally:
        worker.stop()
        thread.join(10)
        app.close()
    assert ran == list(range(10))


def test_a_timeout_is_enforced_on_time_for_a_job_the_waker_started(tmp_path: Path) -> None:
    """The waker starts the job while the loop sleeps; the loop must still fail it on time."""
    app = taskheap.App(URL_FACTORIES["sqlite"](tmp_path), lease=30.0)
    stuck = app.task(name="stuck", timeout=0.1, retries=0)(time.sleep)
    worker = Worker(app, concurrency=2)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        overruns = []
        for _ in range(3):
            time.sleep(0.3)  # idle: the waker is the claimer
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
