"""Unique jobs on SQLite: a job with a key is inserted on its own, in the enqueue's transaction.

Without a window the partial unique index jobs_unique (schema migration 9) refuses a second job
with the key in the queue while one is in UNIQUE_STATES: the insert does nothing and the holder
is read back, in the same transaction (the write lock is held, so no other writer comes
between). With a window, the key's row in unique_windows is taken only if its hold ended by the
job's enqueue time (an upsert that updates only an expired row); the row outlives its job.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ...job import UNIQUE_STATES_SQL
from ..base import NewJob
from ..counting import resolved
from .queries import INSERT_SQL, insert_rows

INSERT_KEYED_SQL = (
    "INSERT INTO jobs (id, task, queue, priority, rank, state, payload, retries, backoff, timeout,"
    " enqueued_at, run_at, meta, expires_at, unique_key, unique_for)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING"
)
HOLDER_SQL = (
    "SELECT id FROM jobs INDEXED BY jobs_unique WHERE queue = ? AND unique_key = ?"
    f" AND unique_key IS NOT NULL AND unique_for IS NULL AND state IN {UNIQUE_STATES_SQL}"
)
TAKE_WINDOW_SQL = (
    "INSERT INTO unique_windows (queue, key, job_id, held_until) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (queue, key) DO UPDATE SET job_id = excluded.job_id, held_until = excluded.held_until"
    " WHERE unique_windows.held_until <= ?"
)
WINDOW_HOLDER_SQL = "SELECT job_id FROM unique_windows WHERE queue = ? AND key = ?"


def insert_unique(
    conn: sqlite3.Connection, jobs: Sequence[NewJob], shift: float
) -> tuple[list[NewJob], dict[str, str]]:
    """Insert `jobs` (some with a unique key) in `conn`'s open transaction but those whose key is
    held: return the jobs inserted and the duplicates (as Backend.enqueue returns them)."""
    duplicates: dict[str, str] = {}
    inserted: list[NewJob] = []
    plain: list[NewJob] = []
    for job in jobs:
        if job.unique_key is None:
            plain.append(job)
            continue
        held = _holder(conn, job, shift)
        if held is None:
            inserted.append(job)
        else:
            duplicates[job.id] = held
    if plain:
        conn.executemany(INSERT_SQL, insert_rows(plain, shift))
        inserted += plain
    return inserted, resolved(duplicates)


def _holder(conn: sqlite3.Connection, job: NewJob, shift: float) -> str | None:
    """Insert a job with a key if the key is free: None; else the id of the job holding it."""
    row = (*insert_rows([job], shift)[0], job.unique_key, job.unique_for)
    if job.unique_for is not None:
        at = job.enqueued_at + shift
        took = conn.execute(TAKE_WINDOW_SQL, (job.queue, job.unique_key, job.id, at + job.unique_for, at))
        if took.rowcount == 0:
            return str(conn.execute(WINDOW_HOLDER_SQL, (job.queue, job.unique_key)).fetchone()[0])
        conn.execute(INSERT_KEYED_SQL, row)
        return None
    if conn.execute(INSERT_KEYED_SQL, row).rowcount:
        return None
    found = conn.execute(HOLDER_SQL, (job.queue, job.unique_key)).fetchone()
    return None if found is None or found[0] == job.id else str(found[0])
