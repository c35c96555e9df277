"""Producers enqueuing inside long transactions of their own never wait for each other: the
`enqueued` counters are appended as deltas, so no shared counter row is locked until commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

import taskheap
from taskheap.backends.base import ALL_TIME
from taskheap.backends.postgres import PostgresBackend
from taskheap.task import Task

from ..postgres_support import postgres_url, server_url

JOBS_PER_CALL = 5
OPEN_FOR = 30.0  # seconds each producer keeps its transaction open for the other at most
UNBLOCKED_WITHIN = OPEN_FOR / 6  # a second enqueue blocked by the other's open transaction waits
# until it ends (OPEN_FOR); one that returns within this never waited for it
T = TypeVar("T")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[taskheap.App]:
    application = taskheap.App(postgres_url(tmp_path))
    application.backend.migrate()
    yield application
    application.close()


def producer(
    app: taskheap.App,
    tasks: list[Task[..., Any]],
    both_started: threading.Barrier,
    both_done: threading.Barrier,
) -> float:
    """Enqueue jobs of `tasks` in that order in one transaction; commit once the other producer
    has done the same with its transaction still open. Returns the second enqueue's duration."""
    with psycopg.connect(server_url()) as conn:
        first, second = tasks
        app.enqueue_many([first.job(n) for n in range(JOBS_PER_CALL)], connection=conn)
        both_started.wait(timeout=OPEN_FOR)
        started = time.monotonic()
        app.enqueue_many([second.job(n) for n in range(JOBS_PER_CALL)], connection=conn)
        elapsed = time.monotonic() - started
        both_done.wait(timeout=OPEN_FOR)
        conn.commit()
    return elapsed


def run_in_threads(calls: list[Callable[[], T]]) -> list[T | BaseException]:
    """Run each call in a thread of its own, all at once; what each returned or raised."""
    outcomes: list[T | BaseException] = [RuntimeError("did not finish")] * len(calls)

    def run(index: int) -> None:
        try:
            outcomes[index] = calls[index]()
        except BaseException as exc:  # reported by the assertion in the test
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=2 * OPEN_FOR)
    return outcomes


def test_open_transactions_enqueuing_two_tasks_in_opposite_orders_neither_block_nor_deadlock(
    app: taskheap.App,
) -> None:
    send = app.task(name="send", queue="mail")(lambda n: n)
    bill = app.task(name="bill", queue="mail")(lambda n: n)
    both_started, both_done = threading.Barrier(2), threading.Barrier(2)
    outcomes = run_in_threads(
        [
            lambda: producer(app, [send, bill], both_started, both_done),
            lambda: producer(app, [bill, send], both_started, both_done),
        ]
    )
    assert all(isinstance(o, float) and o < UNBLOCKED_WITHIN for o in outcomes), outcomes
    totals = {(t.queue, t.task): t.enqueued for t in app.admin.totals()}
    assert totals == {("mail", "bill"): 2 * JOBS_PER_CALL, ("mail", "send"): 2 * JOBS_PER_CALL}


def test_folds_racing_each_other_and_producers_count_every_job_exactly_once(app: taskheap.App) -> None:
    send = app.task(name="send", queue="mail")(lambda n: n)
    batches, producers, folders = 40, 3, 3

    def produce() -> None:
        for _ in range(batches):
            app.enqueue_many([send.job(n) for n in range(JOBS_PER_CALL)])

    def fold() -> None:
        for _ in range(batches):
            app.backend.minutes(0)
            app.backend.forget_minutes(0)

    outcomes = run_in_threads([produce] * producers + [fold] * folders)
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    expected = producers * batches * JOBS_PER_CALL
    rows = app.backend.minutes(0)
    assert [r.enqueued for r in rows if r.minute == ALL_TIME] == [expected]
    assert sum(r.enqueued for r in rows if r.minute != ALL_TIME) == expected
    assert unfolded_deltas(app) == 0


def unfolded_deltas(app: taskheap.App) -> int:
    backend = app.backend
    assert isinstance(backend, PostgresBackend)
    with psycopg.connect(server_url()) as conn:
        row = conn.execute(f"SELECT count(*) FROM {backend.schema}.minute_deltas").fetchone()
    assert row is not None
    return int(row[0])
