"""Cancel requests and progress in SQLite: `cancel` of a waiting job, the request stored for a
running one, the worker's poll for them, and the progress its runs report (the
`cancel_requested_at`, `progress` and `progress_at` columns, migration 11)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from ..base import ProgressUpdate
from .queries import BY_TEXT, as_stored

BATCH = 500  # ids per poll statement, well under SQLite's bound on parameters

CANCEL_WAITING_SQL = (
    "UPDATE jobs SET state = 'cancelled', finished_at = ?, run_at = NULL"
    f" WHERE id = {BY_TEXT} AND state IN ('queued', 'scheduled', 'retrying')"
)
PROGRESS_SQL = (
    f"UPDATE jobs SET progress = ?, progress_at = ? WHERE id = {BY_TEXT} AND token = ? AND state = 'running'"
)
REQUEST_CANCEL_SQL = (
    "UPDATE jobs SET cancel_requested_at = coalesce(cancel_requested_at, ?)"
    f" WHERE id = {BY_TEXT} AND state = 'running'"
)


def cancel(conn: sqlite3.Connection, job_id: str, now: float) -> bool:
    """(In a write transaction.) Cancel a waiting job, or store the request for a running one."""
    stored = as_stored(job_id)
    if conn.execute(CANCEL_WAITING_SQL, (now, stored)).rowcount:
        return True
    return bool(conn.execute(REQUEST_CANCEL_SQL, (now, stored)).rowcount)


def requested(read: Callable[[str, Sequence[Any]], list[Any]], ids: Sequence[str]) -> set[str]:
    """The running jobs among `ids` with a cancel request, read by `read(sql, params)`."""
    found: set[str] = set()
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        marks = ",".join([BY_TEXT] * len(chunk))
        rows = read(
            f"SELECT id FROM jobs WHERE id IN ({marks}) AND state = 'running'"
            " AND cancel_requested_at IS NOT NULL",
            [as_stored(job_id) for job_id in chunk],
        )
        found.update(job_id for (job_id,) in rows)
    return found


def progress_rows(updates: Sequence[ProgressUpdate], now: float) -> list[tuple[str, tuple[Any, ...]]]:
    """(id, parameters of PROGRESS_SQL) per update."""
    return [(u.id, (u.progress, now, as_stored(u.id), u.token)) for u in updates]
