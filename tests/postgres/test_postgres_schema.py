"""Migrating a PostgreSQL schema made by an earlier version: its rows read and work under the new
fields, and a worker of that version still running beside this one goes on registering."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from taskheap.backends.base import Lease, Postponement, WorkerInfo
from taskheap.backends.postgres import PostgresBackend, Statements, migrations
from taskheap.job import JobState

from ..merged_starts import PERIOD, RATE, check_merged_starts, earlier_starts
from ..postgres_support import postgres_url

BEFORE_POSTPONE = 5  # the last migration before unknown_since and the new worker fields
NOW = 1_700_000_000.0
LEASE = 30.0
#: The heartbeat's registration of the release of migration 5, which named the first columns.
EARLIER_HEARTBEAT = (
    "INSERT INTO {}.workers (id, host, pid, queues, concurrency, started_at, last_seen, jobs)"
    " VALUES (%s, 'host', 1, ARRAY['default'], 2, %s, %s, ARRAY[]::text[])"
    " ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen"
)
#: A job as the releases before expiry inserted it (by named columns, no expires_at).
EARLIER_ENQUEUE = (
    "INSERT INTO {}.jobs (id, task, queue, priority, rank, state, payload, retries, enqueued_at)"
    " VALUES (%s, 'echo', 'default', 5, 5.0, 'queued', '{{}}', 3, %s)"
)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[PostgresBackend]:
    backend = PostgresBackend(postgres_url(tmp_path))
    yield backend
    backend.close()


def earlier_schema(backend: PostgresBackend, version: int = BEFORE_POSTPONE) -> None:
    """The schema at migration `version` (5 by default), recorded as the migrations of that
    release recorded it, with a queued job enqueued and a worker registered by that release."""
    statements = Statements(backend.schema)
    with psycopg.connect(backend.conninfo, autocommit=True) as conn:
        conn.execute(statements["migrations_table"])
        for number, name in migrations()[:version]:
            conn.execute(statements[name])
            conn.execute(statements["record_migration"], {"version": number, "name": name})
        earlier_heartbeat(conn, backend, "old", NOW)
        earlier_enqueue(conn, backend, "j1")


def earlier_enqueue(
    conn: psycopg.Connection[tuple[object, ...]], backend: PostgresBackend, job_id: str
) -> None:
    conn.execute(sql.SQL(EARLIER_ENQUEUE).format(sql.Identifier(backend.schema)), (job_id, NOW))


def earlier_heartbeat(
    conn: psycopg.Connection[tuple[object, ...]], backend: PostgresBackend, worker: str, at: float
) -> None:
    conn.execute(sql.SQL(EARLIER_HEARTBEAT).format(sql.Identifier(backend.schema)), (worker, NOW - 60, at))


def test_a_schema_of_the_previous_version_migrates_and_postpones_and_registers_the_new_fields(
    backend: PostgresBackend,
) -> None:
    earlier_schema(backend)
    backend.migrate()
    (job,) = backend.claim(["default"], "new", 1, LEASE, now=NOW)
    assert backend.postpone([Postponement(job.id, job.token, 10.0, unknown_task=True)], now=NOW) == [job.id]
    record = backend.get(job.id)
    assert record is not None and record.state == JobState.SCHEDULED and record.unknown_since == NOW
    assert backend.counts()["default"] == {"scheduled": 1}
    (old,) = backend.workers()
    assert (old.id, old.tasks, old.lease, old.processed, old.per_minute) == ("old", [], 30.0, 0, 0)
    new = WorkerInfo("new", "host", 2, ["default"], 4, NOW, tasks=["echo"], lease=5.0, processed=3)
    backend.heartbeat(new, [], LEASE, now=NOW)
    assert {w.id: w.tasks for w in backend.workers()} == {"old": [], "new": ["echo"]}


def test_a_worker_of_the_previous_version_goes_on_registering_after_the_migration(
    backend: PostgresBackend,
) -> None:
    earlier_schema(backend)
    backend.migrate()
    (job,) = backend.claim(["default"], "old", 1, LEASE, now=NOW)
    with psycopg.connect(backend.conninfo, autocommit=True) as conn:
        earlier_heartbeat(conn, backend, "old", NOW + 5)
    new = WorkerInfo("new", "h", 2, ["default"], 1, NOW, tasks=["echo"])
    assert backend.heartbeat(new, [Lease(job.id, job.token)], LEASE, now=NOW + 5) == {job.id}
    assert {w.id: (w.last_seen, w.tasks) for w in backend.workers()} == {
        "old": (NOW + 5, []),
        "new": (NOW + 5, ["echo"]),
    }


BEFORE_EXPIRY = 6  # the last migration before the cancelled counter and expires_at


def test_a_schema_from_before_expiry_migrates_its_jobs_never_expire_and_its_counters_read(
    backend: PostgresBackend,
) -> None:
    earlier_schema(backend, BEFORE_EXPIRY)
    with psycopg.connect(backend.conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.minutes (minute, queue, task, completed) VALUES (60, 'default', 'echo', 4)"
            ).format(sql.Identifier(backend.schema))
        )
    backend.migrate()
    assert backend.expire_due(10, now=NOW + 10**9) == []
    (job,) = backend.claim(["default"], "new", 1, LEASE, now=NOW + 10**9)
    assert job.enqueued_at == NOW and not job.past_expiry
    (row,) = [r for r in backend.minutes(0) if r.minute == 60]
    assert (row.completed, row.cancelled) == (4, 0)
    with psycopg.connect(backend.conninfo, autocommit=True) as conn:  # its producers enqueue on
        earlier_enqueue(conn, backend, "j2")
    (again,) = backend.claim(["default"], "new", 1, LEASE, now=NOW)
    assert again.id == "j2" and not again.past_expiry


BEFORE_STARTS_PER_CLAIM = 11  # the last migration before queue_starts held a row per claim


def test_a_schema_from_before_starts_per_claim_merges_its_starts_and_its_rate_still_holds(
    backend: PostgresBackend,
) -> None:
    earlier_schema(backend, BEFORE_STARTS_PER_CLAIM)
    schema = sql.Identifier(backend.schema)
    limits = "INSERT INTO {}.queue_limits (name, rate, period, started) VALUES ('default', %s, %s, 3)"
    starts = "INSERT INTO {}.queue_starts (queue, at) VALUES ('default', %s)"
    with psycopg.connect(backend.conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL(limits).format(schema), (RATE, PERIOD))
        for at in earlier_starts(NOW):
            conn.execute(sql.SQL(starts).format(schema), (at,))
        for job_id in ("j2", "j3", "j4"):
            earlier_enqueue(conn, backend, job_id)
    backend.migrate()

    def rows() -> list[tuple[object, ...]]:
        with psycopg.connect(backend.conninfo, autocommit=True) as conn:
            return conn.execute(
                sql.SQL("SELECT at, n FROM {}.queue_starts ORDER BY at").format(schema)
            ).fetchall()

    check_merged_starts(backend, rows, ["j1", "j2", "j3"], NOW)
