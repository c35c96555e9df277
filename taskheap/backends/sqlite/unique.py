"""Unique jobs on SQLite: a job with a key is inserted on its own, in the enqueue's transaction.

Without a window the partial unique index jobs_unique (schema migration 9) refuses a second job
with the key in the queue while one is in UNIQUE_STATES: the insert does nothing and the holder
is read back, in the same transaction (the write lock is held, so no other writer comes
between). With a window, the key's row in unique_windows is taken only if its hold ended by the
job's enqueue time (an upsert that updates only an expired row); the row outlives its job.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from ...errors import QueueFull
from ...job import UNIQUE_STATES_SQL
from ..base import NewJob
from ..counting import enqueued_rows, limited, resolved
from .queries import ADD_MINUTES_SQL, INSERT_SQL, WAITING_IN_QUEUE_SQL, insert_rows, minute_rows

INSERT_KEYED_SQL = (
    "INSERT INTO jobs (id, task, queue, priority, rank, state, payload, retries, backoff, timeout,"
    " enqueued_at, run_at, meta, expires_at, grp, unique_key, unique_for)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING"
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
#: Prune's: windows that ended (their keys are free: an enqueue would take them over anyway).
PRUNE_WINDOWS_SQL = (
    "DELETE FROM unique_windows WHERE (queue, key) IN (SELECT queue, key FROM unique_windows"
    " INDEXED BY unique_windows_ending WHERE held_until <= ? ORDER BY held_until LIMIT ?)"
)


def refuse_if_full(conn: sqlite3.Connection, room: dict[str, tuple[int, int]], *, inserted: bool) -> None:
    """QueueFull for the first queue of `room` (queue -> (max_length, adding)) whose waiting
    jobs and the new ones are more than its max_length; `inserted`: the new ones are counted
    already. Exact only while `conn` holds the write lock."""
    for queue, (max_length, adding) in room.items():
        waiting = conn.execute(WAITING_IN_QUEUE_SQL, (queue,)).fetchone()[0] - (adding if inserted else 0)
        if waiting + adding > max_length:
            raise QueueFull(queue, max_length, waiting, adding)


def enqueue_keyed(
    conn: sqlite3.Connection, jobs: Sequence[NewJob], limits: Mapping[str, int] | None, shift: float
) -> dict[str, str]:
    """Jobs some of which have a unique key (unique.py), in `conn`'s open transaction: the room
    of limited queues is counted after the insert, for the jobs inserted (a duplicate takes none)."""
    inserted, duplicates = insert_unique(conn, jobs, shift)
    if limits and (room := limited(inserted, limits)):
        refuse_if_full(conn, room, inserted=True)
    if inserted:
        conn.executemany(ADD_MINUTES_SQL, minute_rows(enqueued_rows(inserted)))
    return duplicates


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
