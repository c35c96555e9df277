"""Migrating a SQLite store made by an earlier schema version: its rows read and work under the
new fields, and a worker of that version still running beside this one goes on registering."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from taskheap.backends.base import Lease, NewJob, Postponement, WorkerInfo
from taskheap.backends.queue_limits import QueueLimits
from taskheap.backends.sqlite import SQLiteBackend
from taskheap.backends.sqlite.queries import insert_rows
from taskheap.backends.sqlite.schema import MIGRATIONS
from taskheap.job import JobState

from ..merged_starts import PERIOD, RATE, check_merged_starts, earlier_starts

BEFORE_POSTPONE = 5  # the schema version before unknown_since and the worker details
NOW = 1_700_000_000.0
LEASE = 30.0
#: The heartbeat of schema 5's release, which filled `workers` by position.
EARLIER_HEARTBEAT = "INSERT OR REPLACE INTO workers VALUES (?,?,?,?,?,?,?,?)"
#: The enqueue of the releases before expiry (schema 4 on: meta, no expires_at).
#: The enqueue of the release before limits at claim (schema 8: expires_at, no grp).
BEFORE_LIMITS = 8
EXPIRY_INSERT = (
    "INSERT INTO jobs (id, task, queue, priority, rank, state, payload, retries, backoff, timeout,"
    " enqueued_at, run_at, meta, expires_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
EARLIER_INSERT = (
    "INSERT INTO jobs (id, task, queue, priority, rank, state, payload, retries, backoff, timeout,"
    " enqueued_at, run_at, meta) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def earlier_store(path: Path, version: int = BEFORE_POSTPONE) -> None:
    """A store at schema `version` (5 by default) with a queued job and a worker registered by
    its release."""
    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:version]:
        conn.executescript(script)
    conn.execute(f"PRAGMA user_version = {version}")
    job = NewJob("j1", "echo", "default", 5, 5.0, "{}", NOW, None, 3, None, None)
    conn.executemany(EARLIER_INSERT, [row[:13] for row in insert_rows([job], 0.0)])
    conn.execute(EARLIER_HEARTBEAT, earlier_worker("old", NOW))
    conn.close()


def earlier_worker(worker_id: str, now: float) -> tuple[object, ...]:
    return (worker_id, "host", 1, json.dumps(["default"]), 2, NOW - 60, now, json.dumps([]))


def test_a_store_of_the_previous_version_migrates_and_postpones_and_registers_the_new_fields(
    tmp_path: Path,
) -> None:
    path = tmp_path / "earlier.db"
    earlier_store(path)
    backend = SQLiteBackend(f"sqlite:///{path}")
    backend.migrate()
    assert backend._read("PRAGMA user_version")[0][0] == len(MIGRATIONS)
    (job,) = backend.claim(["default"], "new", 1, LEASE, now=NOW)
    assert backend.postpone([Postponement(job.id, job.token, 10.0, unknown_task=True)], now=NOW) == [job.id]
    record = backend.get(job.id)
    assert record is not None and record.state == JobState.SCHEDULED and record.unknown_since == NOW
    (old,) = backend.workers()
    assert (old.id, old.tasks, old.lease, old.processed, old.per_minute) == ("old", [], 30.0, 0, 0)
    new = WorkerInfo("new", "host", 2, ["default"], 4, NOW, tasks=["echo"], lease=5.0, processed=3)
    backend.heartbeat(new, [], LEASE, now=NOW)
    assert {w.id: w.tasks for w in backend.workers()} == {"old": [], "new": ["echo"]}
    backend.close()


def test_a_worker_of_the_previous_version_goes_on_registering_after_the_migration(tmp_path: Path) -> None:
    """Its heartbeat fills `workers` by position: the new fields live in a table of their own."""
    path = tmp_path / "mixed.db"
    earlier_store(path)
    backend = SQLiteBackend(f"sqlite:///{path}")
    backend.migrate()
    (job,) = backend.claim(["default"], "old", 1, LEASE, now=NOW)
    earlier = sqlite3.connect(path, isolation_level=None)
    earlier.execute(EARLIER_HEARTBEAT, earlier_worker("old", NOW + 5))
    earlier.close()
    new = WorkerInfo("new", "h", 2, ["default"], 1, NOW)
    assert backend.heartbeat(new, [Lease(job.id, job.token)], LEASE, now=NOW + 5) == {job.id}
    assert {w.id: w.last_seen for w in backend.workers()} == {"old": NOW + 5, "new": NOW + 5}
    earlier = sqlite3.connect(path, isolation_level=None)  # its Pruner forgets both workers
    earlier.execute("DELETE FROM workers WHERE last_seen < ?", (NOW + 10,))
    earlier.close()
    assert backend.forget_workers(1.0, now=NOW + 10) == 0
    assert backend._read("SELECT count(*) FROM worker_details")[0][0] == 0, "details of forgotten workers go"
    backend.close()


BEFORE_EXPIRY = 6  # the schema version before the cancelled counter and expires_at


def test_a_store_from_before_expiry_migrates_its_jobs_never_expire_and_its_counters_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "before-expiry.db"
    earlier_store(path, BEFORE_EXPIRY)
    earlier = sqlite3.connect(path, isolation_level=None)
    earlier.execute("INSERT INTO minutes (minute, queue, task, completed) VALUES (60, 'default', 'echo', 4)")
    earlier.close()
    backend = SQLiteBackend(f"sqlite:///{path}")
    backend.migrate()
    assert backend._read("PRAGMA user_version")[0][0] == len(MIGRATIONS)
    assert backend.expire_due(10, now=NOW + 10**9) == []
    (job,) = backend.claim(["default"], "new", 1, LEASE, now=NOW + 10**9)
    assert job.enqueued_at == NOW and not job.past_expiry
    (row,) = backend.minutes(0)
    assert (row.completed, row.cancelled) == (4, 0)
    earlier = sqlite3.connect(path, isolation_level=None)  # a producer of that release enqueues on
    earlier.executemany(
        EARLIER_INSERT,
        [
            r[:13]
            for r in insert_rows(
                [NewJob("j2", "echo", "default", 5, 5.0, "{}", NOW, None, 3, None, None)], 0.0
            )
        ],
    )
    earlier.close()
    (again,) = backend.claim(["default"], "new", 1, LEASE, now=NOW)
    assert again.id == "j2" and not again.past_expiry
    backend.close()


def test_a_store_from_before_limits_migrates_and_its_release_enqueues_into_a_limited_queue(
    tmp_path: Path,
) -> None:
    """Its jobs have no group (not group-limited), and a producer of that release, still
    enqueuing beside this one, writes rows the limited claim takes."""
    path = tmp_path / "earlier.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:BEFORE_LIMITS]:
        conn.executescript(script)
    conn.execute(f"PRAGMA user_version = {BEFORE_LIMITS}")
    jobs = [NewJob(f"j{n}", "echo", "default", 5, 5.0, "{}", NOW, None, 3, None, None) for n in range(3)]
    conn.executemany(EXPIRY_INSERT, [row[:14] for row in insert_rows(jobs[:2], 0.0)])
    backend = SQLiteBackend(f"sqlite:///{path}")
    backend.migrate()
    backend.declare_queues({"default": QueueLimits(concurrency=2, group_concurrency=1)})
    conn.executemany(EXPIRY_INSERT, [row[:14] for row in insert_rows(jobs[2:], 0.0)])
    conn.close()
    assert [j.id for j in backend.claim(["default"], "new", 10, LEASE, now=NOW)] == ["j0", "j1"]
    assert backend.limited_queues(now=NOW)["default"].running == 2
    backend.close()


BEFORE_STARTS_PER_CLAIM = 11  # the schema version before queue_starts held a row per claim


def test_a_store_from_before_starts_per_claim_merges_its_starts_and_its_rate_still_holds(
    tmp_path: Path,
) -> None:
    path = tmp_path / "earlier.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:BEFORE_STARTS_PER_CLAIM]:
        conn.executescript(script)
    conn.execute(f"PRAGMA user_version = {BEFORE_STARTS_PER_CLAIM}")
    conn.execute(
        "INSERT INTO queue_limits (name, rate, period, started) VALUES ('default', ?, ?, 3)", (RATE, PERIOD)
    )
    conn.executemany(
        "INSERT INTO queue_starts (queue, at) VALUES ('default', ?)", [(at,) for at in earlier_starts(NOW)]
    )
    backend = SQLiteBackend(f"sqlite:///{path}")
    backend.migrate()
    jobs = [NewJob(f"j{n}", "echo", "default", 5, 5.0, "{}", NOW, None, 3, None, None) for n in range(4)]
    backend.enqueue(jobs)

    def rows() -> list[tuple[float, int]]:
        return conn.execute("SELECT at, n FROM queue_starts ORDER BY at").fetchall()

    check_merged_starts(backend, rows, ["j0", "j1", "j2"], NOW)
    conn.close()
    backend.close()
