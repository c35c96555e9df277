"""Which clock decides: an App given a clock passes its `now` to every backend call a worker makes
(claims, retries, promotion), so a test moves time instead of sleeping through a backoff."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import taskheap
from taskheap.clock import FixedClock
from taskheap.worker import Worker
from tests.conftest import URL_FACTORIES, wait_for

START = 1_700_000_000.0  # years before the store's own clock: a claim by that clock would show


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
    finally:
        worker.stop()
        thread.join(10.0)
        app.close()
