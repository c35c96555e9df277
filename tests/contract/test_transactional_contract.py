"""The `TransactionalEnqueue` contract: `enqueue_in(connection, jobs)` puts jobs into the caller's
own open database transaction (a sqlite3 connection to the same file, a psycopg connection to the
same database), through `App.enqueue_many(connection=)`, `Task.options(connection=)` and
`App.transaction(connection)`. The jobs, and the `enqueued` counters that count them, exist only
if that transaction commits, and nobody sees them before it does.

SQLite and PostgreSQL implement it. Redis has no transaction of yours to join: there the contract
is a clear refusal, not a skip."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import taskheap
from taskheap.backends.postgres import PostgresBackend
from taskheap.backends.sqlite import SQLiteBackend
from taskheap.clock import FixedClock

from .helpers import args_of, claim, declare

TRANSACTIONAL = ["postgres", "sqlite"]
NOT_TRANSACTIONAL = ["redis", "redis-cluster"]

transactional = pytest.mark.parametrize("backend_url", TRANSACTIONAL, indirect=True)
not_transactional = pytest.mark.parametrize("backend_url", NOT_TRANSACTIONAL, indirect=True)


def connect(app: taskheap.App) -> Any:
    """A connection of the caller's own to the app's database (its schema is migrated)."""
    backend = app.backend
    if isinstance(backend, PostgresBackend):
        return psycopg.connect(backend.conninfo)
    assert isinstance(backend, SQLiteBackend), backend
    return sqlite3.connect(backend.path)


@pytest.fixture
def connection(app: taskheap.App) -> Iterator[Any]:
    conn = connect(app)
    yield conn
    conn.close()


def enqueued(app: taskheap.App) -> list[tuple[str, int]]:
    return [(t.task, t.enqueued) for t in app.admin.totals()]


@transactional
def test_jobs_enqueued_in_a_committed_transaction_exist_are_claimable_and_counted(
    app: taskheap.App, clock: FixedClock, connection: Any
) -> None:
    echo = declare(app)
    handles = app.enqueue_many([echo.job(n) for n in range(3)], connection=connection)
    single = echo.options(connection=connection, priority=9).enqueue(3)
    connection.commit()
    assert [h.status() for h in [*handles, single]] == ["queued"] * 4
    assert args_of(claim(app, clock)) == [0, 1, 2, 3]
    assert enqueued(app) == [("echo", 4)]


@transactional
def test_jobs_enqueued_in_a_rolled_back_transaction_never_exist_nor_count(
    app: taskheap.App, clock: FixedClock, connection: Any
) -> None:
    echo = declare(app)
    handles = app.enqueue_many([echo.job(n) for n in range(3)], connection=connection)
    single = echo.options(connection=connection).enqueue(3)
    connection.rollback()
    for handle in [*handles, single]:
        with pytest.raises(taskheap.JobNotFound):
            handle.info()
    assert claim(app, clock) == []
    assert app.stats()["queues"] == {}
    assert enqueued(app) == []


@transactional
def test_nothing_enqueued_in_an_open_transaction_is_visible_to_another_connection(
    app: taskheap.App, clock: FixedClock, connection: Any, backend_url: str
) -> None:
    echo = declare(app)
    other = taskheap.App(backend_url)  # a reader of its own, as another process would be
    other.stats()  # opened (on SQLite: migrated, a write) before the transaction takes the lock
    try:
        handle = echo.options(connection=connection).enqueue(1)
        for reader in (app, other):
            assert reader.backend.get(handle.id) is None
            assert reader.stats()["queues"] == {}
            assert enqueued(reader) == []
        assert claim(app, clock) == []
        connection.commit()
        assert other.get_job(handle.id).status() == "queued"
        assert enqueued(other) == [("echo", 1)]
    finally:
        other.close()


@transactional
def test_app_transaction_routes_every_enqueue_in_the_block(
    app: taskheap.App, clock: FixedClock, connection: Any
) -> None:
    echo = declare(app)
    with app.transaction(connection):
        inside = [
            *app.enqueue_many([echo.job(0), echo.job(1)]),
            echo.enqueue(2),
            echo.options(priority=1).enqueue(3),
            app.enqueue(echo.job(4)),
        ]
        assert app.stats()["queues"] == {}
    connection.rollback()
    for handle in inside:
        with pytest.raises(taskheap.JobNotFound):
            handle.info()
    after = echo.enqueue("after the block")  # not in the transaction: exists at once
    assert after.status() == "queued"
    assert args_of(claim(app, clock)) == ["after the block"]
    assert enqueued(app) == [("echo", 1)]


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_a_connection_to_another_database_is_refused(app: taskheap.App, tmp_path: Path) -> None:
    echo = declare(app)
    other = sqlite3.connect(tmp_path / "other.db")
    try:
        with pytest.raises(taskheap.ConfigError, match="not to this app's database"):
            echo.options(connection=other).enqueue(1)
        with pytest.raises(taskheap.ConfigError, match="not to this app's database"), app.transaction(other):
            app.enqueue_many([echo.job(2)])
    finally:
        other.close()
    assert app.stats()["queues"] == {}


@not_transactional
def test_a_backend_without_transactions_refuses_a_connection_clearly(app: taskheap.App) -> None:
    echo = declare(app)
    yours = sqlite3.connect(":memory:")  # any database transaction of the caller's
    refused = "cannot enqueue inside your own database transaction"
    try:
        with pytest.raises(taskheap.ConfigError, match=refused):
            echo.options(connection=yours).enqueue(1)
        with pytest.raises(taskheap.ConfigError, match=refused):
            app.enqueue_many([echo.job(2)], connection=yours)
        with pytest.raises(taskheap.ConfigError, match=refused), app.transaction(yours):
            echo.enqueue(3)
    finally:
        yours.close()
    assert app.stats()["queues"] == {}
