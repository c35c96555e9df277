"""Backpressure: `app.queue(name, max_length=N)` makes the store refuse an enqueue that would
take the queue past N waiting jobs (queued, scheduled, retrying) with `taskheap.QueueFull`,
never evicting anything. The limit reaches the backend with the enqueue
(`Backend.enqueue(jobs, limits)`, `TransactionalEnqueue.enqueue_in(connection, jobs, limits)`)
and is counted in the same transaction or script as the insert, so concurrent producers, each
with its own App, never take the queue past it.

A call spanning queues is refused whole on SQLite and PostgreSQL; on Redis each queue's part is
atomic and the error names the queues whose jobs went in."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import taskheap
from taskheap.backends.base import Completion, Failure
from taskheap.backends.postgres import PostgresBackend
from taskheap.clock import FixedClock

from .helpers import args_of, claim, declare, new_job
from .test_transactional_contract import TRANSACTIONAL, connect

LIMIT = 50
PRODUCERS = 8
ATTEMPTS = 200  # in all, over the producers
RACES = ("race-1", "race-2", "race-3", "race-4")  # queues the producer processes race into in turn
SQL_STORES = pytest.mark.parametrize("backend_url", TRANSACTIONAL, indirect=True)


def limited(app: taskheap.App, max_length: int, queue: str = "default") -> taskheap.Task:  # type: ignore[type-arg]
    app.queue(queue, max_length=max_length)
    return declare(app)


def waiting(app: taskheap.App, queue: str = "default") -> int:
    counts = app.admin.counts().get(queue, {})
    return sum(counts.get(state, 0) for state in ("queued", "scheduled", "retrying"))


def enqueued_counter(app: taskheap.App) -> int:
    return sum(t.enqueued for t in app.admin.totals())


def test_a_limited_queue_takes_max_length_jobs_then_refuses_with_queue_full(app: taskheap.App) -> None:
    echo = limited(app, 3)
    for n in range(3):
        echo.enqueue(n)
    with pytest.raises(taskheap.QueueFull) as refused:
        echo.enqueue(3)
    error = refused.value
    assert (error.queue, error.max_length, error.waiting, error.adding) == ("default", 3, 3, 1)
    assert str(error) == (
        "queue 'default' is full: 3 jobs wait and its max_length is 3, no room for 1 more;"
        " nothing was enqueued"
    )
    assert isinstance(error, taskheap.TaskheapError)
    assert waiting(app) == 3 and enqueued_counter(app) == 3


def test_a_batch_that_would_cross_the_limit_is_refused_whole(app: taskheap.App, clock: FixedClock) -> None:
    echo = limited(app, 5)
    app.enqueue_many([echo.job(n) for n in range(3)])
    with pytest.raises(taskheap.QueueFull, match="3 jobs wait and its max_length is 5, no room for 3 more"):
        app.enqueue_many([echo.job(n) for n in range(3, 6)])
    assert waiting(app) == 3
    assert enqueued_counter(app) == 3
    assert args_of(claim(app, clock)) == [0, 1, 2]
    app.enqueue_many([echo.job(n) for n in range(3, 8)])  # exactly to the limit: accepted
    assert waiting(app) == 5


def test_delayed_and_retrying_jobs_count_running_and_finished_ones_do_not(
    app: taskheap.App, clock: FixedClock
) -> None:
    echo = limited(app, 4)
    app.enqueue_many([echo.job(n) for n in range(4)])
    running, retried, done, dead = claim(app, clock, limit=4)
    backend = app.backend
    backend.fail([Failure(retried.id, retried.token, "boom", None, 3600.0)], now=clock.now())
    backend.complete([Completion(done.id, done.token, "null")], now=clock.now())
    backend.fail([Failure(dead.id, dead.token, "boom", None, None)], now=clock.now())
    counts = {state: n for state, n in app.admin.counts()["default"].items() if n}
    assert counts == {"running": 1, "retrying": 1, "succeeded": 1, "dead": 1}
    echo.options(delay=3600).enqueue("later")
    echo.enqueue("now")  # waiting: retrying, scheduled, queued; running and finished do not count
    assert waiting(app) == 3
    echo.enqueue("fourth")
    with pytest.raises(taskheap.QueueFull, match="4 jobs wait"):
        echo.enqueue("fifth")
    assert running.id not in {r.id for r in claim(app, clock)}


def test_a_claimed_job_frees_room_for_one_more(app: taskheap.App, clock: FixedClock) -> None:
    echo = limited(app, 2)
    app.enqueue_many([echo.job(0), echo.job(1)])
    with pytest.raises(taskheap.QueueFull):
        echo.enqueue(2)
    (job,) = claim(app, clock, limit=1)
    echo.enqueue(2)
    with pytest.raises(taskheap.QueueFull):
        echo.enqueue(3)
    app.backend.release([(job.id, job.token)])  # back to queued: over the limit, nothing evicted
    assert waiting(app) == 3
    assert sorted(args_of(claim(app, clock))) == [0, 1, 2]


def test_queues_without_a_limit_are_unaffected(app: taskheap.App, backend_url: str) -> None:
    echo = limited(app, 1, queue="small")
    echo.options(queue="small").enqueue(0)
    with pytest.raises(taskheap.QueueFull):
        echo.options(queue="small").enqueue(1)
    app.enqueue_many([echo.job(n) for n in range(100)])  # "default": no limit
    echo.enqueue(100)
    assert waiting(app) == 101
    other = taskheap.App(backend_url)  # a producer that declares no limit is not refused
    try:
        declare(other).options(queue="small").enqueue(2)
    finally:
        other.close()
    assert waiting(app, "small") == 2


def test_a_call_spanning_queues_is_refused_whole_on_sql_stores_and_per_queue_on_redis(
    app: taskheap.App, backend_url: str
) -> None:
    echo = limited(app, 1, queue="small")
    echo.options(queue="small").enqueue(0)
    specs = [echo.job("free"), echo.options(queue="small").job("over")]
    with pytest.raises(taskheap.QueueFull, match="queue 'small' is full") as refused:
        app.enqueue_many(specs)
    if backend_url.startswith("redis"):
        assert refused.value.enqueued_queues == ("default",)
        assert "the call's jobs for 'default' were enqueued" in str(refused.value)
        assert waiting(app) == 1
    else:
        assert refused.value.enqueued_queues == ()
        assert waiting(app) == 0
    assert waiting(app, "small") == 1


@pytest.mark.parametrize("backend_url", ["postgres", "redis", "redis-cluster"], indirect=True)
def test_a_batch_sent_again_after_a_lost_reply_is_neither_refused_nor_enqueued_twice(
    app: taskheap.App,
) -> None:
    """PostgreSQL and Redis resend a write whose connection broke, maybe after it went through
    (SQLite writes a local file and never resends)."""
    batch = [new_job(n, queue="default") for n in range(2)]
    app.backend.enqueue(batch, {"default": 2})
    app.backend.enqueue(batch, {"default": 2})  # the resent call: its own jobs take no room
    assert waiting(app) == 2
    with pytest.raises(taskheap.QueueFull, match="2 jobs wait"):
        app.backend.enqueue([new_job(2, queue="default")], {"default": 2})


def produce(url: str, attempts: int, start: Any, queues: tuple[str, ...] = ("default",)) -> tuple[int, int]:
    """One producer with an App of its own: in each queue in turn, once every producer is at
    `start`, enqueue one job at a time, `attempts` times; (accepted, refused) in all."""
    app = taskheap.App(url)
    try:
        echo = declare(app)
        for queue in queues:
            app.queue(queue, max_length=LIMIT)
        app.backend.migrate()  # opened before the race starts
        accepted = refused = 0
        for queue in queues:
            start.wait(timeout=30)
            for n in range(attempts):
                try:
                    echo.options(queue=queue).enqueue(n)
                    accepted += 1
                except taskheap.QueueFull:
                    refused += 1
        return accepted, refused
    finally:
        app.close()


def test_concurrent_producers_never_take_the_queue_past_its_limit(
    app: taskheap.App, backend_url: str
) -> None:
    limited(app, LIMIT)
    app.backend.migrate()
    start = threading.Barrier(PRODUCERS)
    outcomes: list[tuple[int, int]] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(produce(backend_url, ATTEMPTS // PRODUCERS, start)))
        for _ in range(PRODUCERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == PRODUCERS
    assert sum(a for a, _ in outcomes) == LIMIT
    assert sum(r for _, r in outcomes) == ATTEMPTS - LIMIT
    assert waiting(app) == LIMIT
    assert enqueued_counter(app) == LIMIT


def produce_in_process(url: str, start: Any, results: Any) -> None:
    results.put(produce(url, LIMIT, start, RACES))


@SQL_STORES
def test_concurrent_producer_processes_never_take_the_queue_past_its_limit(
    app: taskheap.App, backend_url: str
) -> None:
    app.backend.migrate()
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.SimpleQueue()
    processes = [context.Process(target=produce_in_process, args=(backend_url, start, results)) for _ in "ab"]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    outcomes = [results.get() for _ in processes]
    assert sum(a for a, _ in outcomes) == LIMIT * len(RACES)
    assert sum(r for _, r in outcomes) == LIMIT * len(RACES)
    assert [waiting(app, queue) for queue in RACES] == [LIMIT] * len(RACES)


@pytest.fixture
def connection(app: taskheap.App) -> Iterator[Any]:
    conn = connect(app)
    yield conn
    conn.close()


@SQL_STORES
def test_transactional_enqueue_counts_the_transactions_own_jobs_and_leaves_it_usable(
    app: taskheap.App, clock: FixedClock, connection: Any
) -> None:
    echo = limited(app, 3)
    app.enqueue_many([echo.job(0)])
    app.enqueue_many([echo.job(1)], connection=connection)
    with pytest.raises(taskheap.QueueFull, match="2 jobs wait and its max_length is 3, no room for 2 more"):
        app.enqueue_many([echo.job(2), echo.job(3)], connection=connection)
    echo.options(connection=connection).enqueue(2)  # the transaction goes on: room for one
    with pytest.raises(taskheap.QueueFull, match="3 jobs wait"):
        echo.options(connection=connection).enqueue(3)
    connection.commit()
    assert args_of(claim(app, clock)) == [0, 1, 2]
    assert enqueued_counter(app) == 3


@SQL_STORES
def test_a_producer_waits_for_an_open_transaction_into_the_queue_and_counts_its_jobs(
    app: taskheap.App, connection: Any
) -> None:
    echo = limited(app, 1)
    app.backend.migrate()
    echo.options(connection=connection).enqueue("in the transaction")
    outcome: list[BaseException | None] = []

    def other_producer() -> None:
        try:
            echo.enqueue("outside")
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=other_producer)
    thread.start()
    thread.join(0.5 if isinstance(app.backend, PostgresBackend) else 0.2)
    assert thread.is_alive(), "the other producer did not wait for the open transaction"
    connection.commit()
    thread.join(10)
    assert isinstance(outcome[0], taskheap.QueueFull), outcome
    assert waiting(app) == 1


@pytest.mark.parametrize("backend_url", ["postgres"], indirect=True)
def test_postgres_refuses_a_limited_enqueue_in_a_repeatable_read_transaction(app: taskheap.App) -> None:
    echo = limited(app, 5)
    backend = app.backend
    assert isinstance(backend, PostgresBackend)
    with psycopg.connect(backend.conninfo) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with pytest.raises(taskheap.ConfigError, match="READ COMMITTED or SERIALIZABLE"):
            echo.options(connection=conn).enqueue(1)
    assert waiting(app) == 0


@pytest.mark.parametrize("backend_url", ["postgres"], indirect=True)
def test_postgres_tells_a_long_wait_for_another_transactions_queue_lock_as_such(app: taskheap.App) -> None:
    """The wait for an open transaction's queue lock is bounded below the call's deadline, so it
    ends as an error naming that transaction, not as a store that does not answer (the deadline
    used to give the connection up and retry, then StoreUnreachable)."""
    limited(app, 5).options(connection=(conn := connect(app))).enqueue("in the transaction")
    impatient = taskheap.App(f"{app.url}&deadline=1")
    echo = limited(impatient, 5)
    with pytest.raises(taskheap.BackendError, match="another producer's transaction") as caught:
        echo.enqueue("outside")
    assert not isinstance(caught.value, taskheap.StoreUnreachable)
    conn.rollback()
    echo.enqueue("after it ended")
    assert waiting(app) == 1
    impatient.close()
    conn.close()


@SQL_STORES
def test_an_autocommit_connection_commits_a_limited_enqueue_at_once(app: taskheap.App) -> None:
    echo = limited(app, 1)
    conn = connect(app)
    if isinstance(conn, sqlite3.Connection):
        conn.isolation_level = None
    else:
        conn.autocommit = True
        # taskheap's own transaction is made READ COMMITTED whatever the session's default
        conn.execute("SET default_transaction_isolation = 'repeatable read'")

    def idle() -> bool:
        if isinstance(conn, sqlite3.Connection):
            return not conn.in_transaction
        return bool(conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE)

    try:
        echo.options(connection=conn).enqueue(1)
        assert idle() and waiting(app) == 1
        with pytest.raises(taskheap.QueueFull):
            echo.options(connection=conn).enqueue(2)
        assert idle() and waiting(app) == 1
    finally:
        conn.close()
