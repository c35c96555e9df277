"""SQLite-only behaviour: locking errors, WAL mode, and query plans that keep claims O(log n)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import taskheap
from taskheap.backends.sqlite import SQLiteBackend
from taskheap.backends.sqlite.queries import EXPIRED_SQL, PROMOTE_SQL, claim_sql


def test_locked_database_gives_a_clear_error_after_its_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/locked.db?timeout=0.2"
    app = taskheap.App(url)
    add = app.task(name="add")(lambda x, y: x + y)
    add.enqueue(1, 2)
    blocker = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(taskheap.BackendError, match="locked"):
            add.enqueue(3, 4)
    finally:
        blocker.execute("ROLLBACK")
    add.enqueue(3, 4)
    assert app.stats()["queues"]["default"]["queued"] == 2


def test_database_is_in_wal_mode(tmp_path: Path) -> None:
    taskheap.App(f"sqlite:///{tmp_path}/wal.db").stats()
    mode = sqlite3.connect(tmp_path / "wal.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_unknown_synchronous_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(taskheap.ConfigError, match="synchronous"):
        SQLiteBackend(f"sqlite:///{tmp_path}/x.db?synchronous=sometimes")


@pytest.mark.parametrize("queues", [1, 3])
def test_claim_reads_the_runnable_index_in_order(tmp_path: Path, queues: int) -> None:
    backend = SQLiteBackend(f"sqlite:///{tmp_path}/plan.db")
    backend.migrate()
    conn = backend._conn()
    plan = conn.execute(
        "EXPLAIN QUERY PLAN " + claim_sql(queues), (0.0, 1.0, "w", 10, *[f"q{i}" for i in range(queues)])
    ).fetchall()
    details = " | ".join(row[-1] for row in plan)
    assert details.count("USING INDEX jobs_runnable") == queues, details
    assert "SCAN jobs" not in details.replace("SCAN jobs USING", ""), details


def test_due_and_expired_lookups_use_their_partial_indexes(tmp_path: Path) -> None:
    backend = SQLiteBackend(f"sqlite:///{tmp_path}/plan.db")
    backend.migrate()
    conn = backend._conn()
    due = conn.execute("EXPLAIN QUERY PLAN " + PROMOTE_SQL, (1.0,)).fetchall()
    expired = conn.execute("EXPLAIN QUERY PLAN " + EXPIRED_SQL, (1.0, 5)).fetchall()
    assert "jobs_due" in str(due) and "jobs_leases" in str(expired)


def test_idle_wait_ignores_due_jobs_of_paused_and_unserved_queues(tmp_path: Path) -> None:
    import time

    app = taskheap.App(f"sqlite:///{tmp_path}/idle.db")
    echo = app.task(name="echo")(lambda x: x)
    echo.options(queue="paused", delay=0.01).enqueue(1)
    echo.options(queue="other", delay=0.01).enqueue(2)
    app.admin.pause("paused")
    time.sleep(0.05)
    started = time.monotonic()
    app.backend.wait_for_work(["paused", "served"], timeout=0.3)
    assert time.monotonic() - started >= 0.25, "a due job nobody may claim must not end the wait"


def test_a_job_committed_between_an_empty_claim_and_the_wait_ends_the_wait_at_once(tmp_path: Path) -> None:
    import time

    app = taskheap.App(f"sqlite:///{tmp_path}/gap.db")
    echo = app.task(name="echo")(lambda x: x)
    assert app.backend.claim(["default"], "w", 1, 30.0) == []
    producer = taskheap.App(f"sqlite:///{tmp_path}/gap.db")  # another connection commits
    producer.task(name="echo")(lambda x: x).enqueue(1)
    started = time.monotonic()
    app.backend.wait_for_work(["default"], timeout=5.0)
    assert time.monotonic() - started < 1.0
    assert [job.task for job in app.backend.claim(["default"], "w", 1, 30.0)] == [echo.name]
