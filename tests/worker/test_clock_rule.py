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
    "postpone",
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


class Running:
    """A Worker thread over `app`, with a task `once_flaky` that fails its first run (retried
    after `backoff` seconds), and the `now` of every deciding backend call recorded."""

    def __init__(self, app: taskheap.App, backoff: float) -> None:
        self.app = app
        runs: list[int] = []

        @app.task(name="once_flaky", retries=1, backoff=taskheap.Backoff(base=backoff, jitter=False))
        def once_flaky() -> str:
            runs.append(1)
            if len(runs) == 1:
                raise ConnectionError("first run fails")
            return "ok"

        self.once_flaky = once_flaky
        self.nows = nows_passed(app.backend)
        self.worker = Worker(app, concurrency=2)
        self.thread = threading.Thread(target=self.worker.run)

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.stop()
        self.thread.join(10.0)
        self.app.close()

    def nows_seen(self) -> set[object]:
        return {now for _, now in list(self.nows)}


@pytest.mark.parametrize("kind", ["sqlite", "redis", "postgres"])
def test_a_worker_claims_and_retries_by_its_apps_clock(kind: str, tmp_path: Path) -> None:
    clock = FixedClock(START)
    app = taskheap.App(URL_FACTORIES[kind](tmp_path), lease=30.0, clock=clock)
    with Running(app, backoff=30.0) as running:
        handle = running.once_flaky.enqueue()
        wait_for(lambda: handle.status() == "retrying", what="the first run to fail")
        info = handle.info()
        assert info.started_at == START, "claimed at the app's now, not the store's"
        assert info.run_at == START + 30.0, "due its backoff after the app's now"
        assert info.failed_attempts[0].finished_at == START
        clock.advance(31.0)
        assert handle.result(timeout=10.0) == "ok"
        assert handle.info().finished_at == START + 31.0
        assert running.nows_seen() <= {START, START + 31.0}, "every call got the app's now"


@pytest.mark.parametrize("kind", ["sqlite", "redis", "postgres"])
def test_a_worker_of_an_app_without_a_clock_lets_the_store_decide(kind: str, tmp_path: Path) -> None:
    app = taskheap.App(URL_FACTORIES[kind](tmp_path), lease=4.0)  # maintenance every second
    with Running(app, backoff=0.05) as running:
        assert running.once_flaky.enqueue().result(timeout=10.0) == "ok"
        wanted = {"promote_due", "expired", "fail", "heartbeat"}
        wait_for(lambda: wanted <= {name for name, _ in list(running.nows)}, what="maintenance to run")
        assert running.nows_seen() == {None}, "no call carried the worker's own clock"
