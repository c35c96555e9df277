"""Which clock decides: an App given a clock passes its `now` to every backend call a worker makes
(claims, retries, promotion), so a test moves time instead of sleeping through a backoff; an App
without one passes None to every such call, so the store's own clock decides."""

from __future__ import annotations

import inspect
import threading
from pathlib import Path
from typing import Any

import pytest

import taskheap
from taskheap.clock import FixedClock
from taskheap.worker import Worker
from tests.conftest import URL_FACTORIES, wait_for

START = 1_700_000_000.0  # years before the store's own clock: a claim by that clock would show
DECIDING = (  # the backend calls of a worker that take `now`
    "claim",
    "complete_and_claim",
    "wait_and_claim",
    "heartbeat",
    "complete",
    "fail",
    "promote_due",
    "expired",
    "prune",
    "forget_workers",
)


def nows_passed(backend: Any) -> list[tuple[str, object]]:
    """(call, the `now` it was given) of every call of DECIDING on `backend`, which still works."""
    seen: list[tuple[str, object]] = []
    for name in DECIDING:
        method = getattr(backend, name)
        signature = inspect.signature(method)

        def spy(
            *args: Any, _name: str = name, _method: Any = method, _sig: Any = signature, **kwargs: Any
        ) -> Any:
            bound = _sig.bind(*args, **kwargs)
            bound.apply_defaults()
            seen.append((_name, bound.arguments["now"]))
            return _method(*args, **kwargs)

        setattr(backend, name, spy)
    return seen


@pytest.mark.parametrize("kind", ["sqlite", "redis", "postgres"])
def test_a_worker_claims_and_retries_by_its_apps_clock(kind: str, tmp_path: Path) -> None:
    clock = FixedClock(START)
    app = taskheap.App(URL_FACTORIES[kind](tmp_path), lease=30.0, clock=clock)
    runs: list[int] = []

    @app.task(name="once_flaky", retries=1, backoff=taskheap.Backoff(base=30.0, jitter=False))
    def once_flaky() -> str:
        runs.append(1)
        if len(runs) == 1:
            raise ConnectionError("first run fails")
        return "ok"

    nows = nows_passed(app.backend)
    worker = Worker(app, concurrency=2)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        handle = once_flaky.enqueue()
        wait_for(lambda: handle.status() == "retrying", what="the first run to fail")
        info = handle.info()
        assert info.started_at == START, "claimed at the app's now, not the store's"
        assert info.run_at == START + 30.0, "due its backoff after the app's now"
        assert info.failed_attempts[0].finished_at == START
        clock.advance(31.0)
        assert handle.result(timeout=10.0) == "ok"
        assert handle.info().finished_at == START + 31.0
        assert {now for _, now in list(nows)} <= {START, START + 31.0}, "every call got the app's now"
    finally:
        worker.stop()
        thread.join(10.0)
        app.close()


@pytest.mark.parametrize("kind", ["sqlite", "redis", "postgres"])
def test_a_worker_of_an_app_without_a_clock_lets_the_store_decide(kind: str, tmp_path: Path) -> None:
    app = taskheap.App(URL_FACTORIES[kind](tmp_path), lease=4.0)  # maintenance every second
    runs: list[int] = []

    @app.task(name="once_flaky", retries=1, backoff=taskheap.Backoff(base=0.05, jitter=False))
    def once_flaky() -> str:
        runs.append(1)
        if len(runs) == 1:
            raise ConnectionError("first run fails")
        return "ok"

    nows = nows_passed(app.backend)
    worker = Worker(app, concurrency=2)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        assert once_flaky.enqueue().result(timeout=10.0) == "ok"
        wait_for(lambda: {"promote_due", "expired", "fail", "heartbeat"} <= {n for n, _ in list(nows)})
        assert {now for _, now in list(nows)} == {None}, "no call carried the worker's own clock"
    finally:
        worker.stop()
        thread.join(10.0)
        app.close()
