"""A worker cut off from its store stops starting jobs whose leases it could not renew: another
worker may hold them by then, and starting them would run them twice."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest

import taskheap
from taskheap.worker import Worker
from tests.conftest import wait_for

LEASE = 2.0


def test_jobs_whose_leases_lapsed_while_they_waited_for_a_slot_are_not_started_there(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "jobs.db"
    app = taskheap.App(f"sqlite:///{path}", lease=LEASE)  # its writes wait out the lock, none fails
    starts: dict[str, list[float]] = {}
    cut_off = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)

    @app.task(name="work", retries=3, backoff=taskheap.Backoff(base=0.05, jitter=False))
    def work(key: str) -> str:
        starts.setdefault(key, []).append(time.monotonic())
        if key == "first":
            cut_off.execute("BEGIN EXCLUSIVE")  # from now on no write reaches the store: no heartbeat
            time.sleep(LEASE * 1.75)  # outlives the leases of the jobs claimed behind it
        return key

    handles = [work.options(priority=0).enqueue("first"), *(work.enqueue(f"ahead-{n}") for n in range(3))]
    worker = Worker(app, concurrency=1, prefetch=3)  # one slot, three jobs claimed ahead of it
    thread = threading.Thread(target=worker.run)
    with caplog.at_level(logging.WARNING, logger="taskheap.worker"):
        thread.start()
        try:
            wait_for(
                lambda: sum("not starting job" in r.getMessage() for r in list(caplog.records)) == 3,
                timeout=LEASE * 10,
                what="the worker to let the three lapsed jobs go",
            )
            cut_off.execute("COMMIT")  # the store is back
            back = time.monotonic()
            assert [h.result(timeout=20) for h in handles] == ["first", "ahead-0", "ahead-1", "ahead-2"]
        finally:
            if cut_off.in_transaction:  # the store back first, or the worker waits for it
                cut_off.execute("COMMIT")
            worker.stop()
            thread.join(30)
            cut_off.close()
            app.close()
    assert not thread.is_alive()
    assert len(starts["first"]) == 1
    for n in range(3):
        assert len(starts[f"ahead-{n}"]) == 1, "each ran once: not where its lease had lapsed"
        assert starts[f"ahead-{n}"][0] > back, "started only after the store took it back"
