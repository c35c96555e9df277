"""The worker's signal handler, called as Python calls one: in the main thread, between two of
its bytecodes, which may be inside the loop's own Event calls, holding their (not reentrant)
locks. It must neither wait on such a lock nor lose the stop it asks for."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import taskheap
from taskheap.worker import Worker


def test_a_signal_inside_the_loops_event_calls_still_stops_the_worker(tmp_path: Path) -> None:
    app = taskheap.App(f"sqlite:///{tmp_path}/jobs.db")
    worker = Worker(app, queues=["default"], concurrency=1)
    runner = threading.Thread(target=worker.run, daemon=True)  # not the main thread: no handlers installed
    runner.start()
    handled = threading.Event()

    def interrupted_inside_the_events() -> None:
        # as the loop's thread would hold them in `_wake.clear()`, `_stopping.wait(...)`
        with worker._wake._cond, worker._stopping._cond:
            worker._on_signal(signal.SIGTERM, None)
        handled.set()

    interrupter = threading.Thread(target=interrupted_inside_the_events, daemon=True)
    interrupter.start()
    assert handled.wait(5), "the handler waited on a lock its own thread holds"
    runner.join(10)
    assert not runner.is_alive(), "the worker did not stop on SIGTERM"
    app.close()
