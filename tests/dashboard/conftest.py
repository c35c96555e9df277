"""An SQLite app with a few jobs in known states, for the dashboard, `top` and metrics tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import taskheap
from taskheap.backends.base import Completion, Failure, WorkerInfo
from taskheap.clock import SystemClock
from taskheap.worker.tally import Settled, record

LEASE = 30.0


@dataclass
class Store:
    """Jobs: 2 queued (default), 1 succeeded, 1 dead (emails, with a traceback and HTML in its
    arguments), 1 running on worker w1; the per-minute counters of those runs."""

    app: taskheap.App
    queued: list[str]
    done: str
    dead: str
    running: str


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    app = taskheap.App(f"sqlite:///{tmp_path}/jobs.db", lease=LEASE, clock=SystemClock())
    send = app.task(name="send", queue="emails", retries=0)(lambda to: to)
    add = app.task(name="add")(lambda x, y: x + y)
    done, dead, running = (
        send.enqueue("ok@example.com"),
        send.enqueue("<script>alert(1)</script>"),
        add.enqueue(0, 0),
    )
    backend = app.backend
    first, second = backend.claim(["emails"], "w1", 2, LEASE)
    backend.complete([Completion(first.id, first.token, '"sent"')])
    backend.fail([Failure(second.id, second.token, "SMTPError: <relay> refused", "Traceback: line 1", None)])
    (run,) = backend.claim(["default"], "w1", 1, LEASE)
    info = WorkerInfo("w1", "host-a", 42, ["default"], 4, 0.0, 0.0, [run.id], processed=12, per_minute=7)
    backend.heartbeat(info, [], LEASE)
    record(backend, [Settled(first, "completed", 0.5), Settled(second, "dead", 0.25)], app.clock.now())
    queued = [add.options(priority=p).enqueue(p, p).id for p in (1, 7)]
    yield Store(app, queued, done.id, dead.id, running.id)
    app.close()


def retrying_job(store: Store) -> str:
    """A new `flaky` job (queue `default`) that failed twice and now waits out an hour's backoff."""
    backend = store.app.backend
    flaky = store.app.task(name="flaky", retries=5)(lambda: None)
    handle = flaky.options(priority=0).enqueue()
    for n, retry_in in ((1, 0.0), (2, 3600.0)):
        (run,) = backend.claim(["default"], f"w{n}", 1, LEASE)
        assert run.id == handle.id
        traceback = f"Traceback (attempt {n})\n  File <flaky>\nIOError: try {n}"
        backend.fail([Failure(run.id, run.token, f"IOError: try {n}", traceback, retry_in)])
    return handle.id
