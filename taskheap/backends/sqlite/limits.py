"""Limits at claim on SQLite: a claim of queues the store holds limits for, decided inside the
claim's IMMEDIATE transaction (the one writer at a time), so the counts it reads are exact.

A limited queue's share: its free slots (concurrency minus its running jobs, a range count of
the partial index `jobs_running`), its rate's room (the limit minus its starts in the window:
the claim deletes the older rows of `queue_starts`, a row per claim with its `n` starts, and
keeps `queue_limits.started` the sum of `n` of those left, so no count of the window) and, with a
group_concurrency, its best queued jobs whose group has a free slot, looking at most GROUP_SCAN
of them. Queues without limits beside it take their heads as `claim_sql` does; the candidates of
all are merged by (rank, id)."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, NamedTuple, Protocol

from ..queue_limits import GROUP_SCAN, LimitedQueue, QueueLimits, room_in
from .queries import CLAIM_RETURNING, CLAIM_SET, claim_sql

DECLARE_SQL = (  # a queue given limits anew counts its starts kept from before
    "INSERT INTO queue_limits (name, concurrency, rate, period, group_concurrency, started)"
    " VALUES (?1, ?2, ?3, ?4, ?5, (SELECT coalesce(sum(n), 0) FROM queue_starts WHERE queue = ?1))"
    " ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency, rate = excluded.rate,"
    " period = excluded.period, group_concurrency = excluded.group_concurrency"
)
GROUPS_RUNNING_SQL = (
    "SELECT grp, count(*) FROM jobs INDEXED BY jobs_running WHERE queue = ? AND state = 'running'"
    " AND grp IS NOT NULL GROUP BY grp"
)
STARTED_SQL = "SELECT coalesce(sum(n), 0), min(at) FROM queue_starts WHERE queue = ? AND at > ?"
TRIM_SQL = "DELETE FROM queue_starts WHERE queue = ? AND at <= ? RETURNING n"
START_SQL = "INSERT INTO queue_starts (queue, at, n) VALUES (?, ?, ?)"
COUNT_STARTS_SQL = "UPDATE queue_limits SET started = started + ? WHERE name = ?"
HELD_SQL = (  # a limited queue as a claim reads it (Held)
    "SELECT name, concurrency, rate, period, group_concurrency, started, (SELECT count(*) FROM jobs"
    " INDEXED BY jobs_running WHERE jobs.queue = queue_limits.name AND jobs.state = 'running')"
    " FROM queue_limits"
)
HEADS_SQL = (
    "SELECT rank, id, rowid, grp FROM jobs INDEXED BY jobs_runnable WHERE queue = ? AND state = 'queued'"
    " ORDER BY rank, id LIMIT ?"
)
CLAIM_ROWS_SQL = f"{CLAIM_SET} WHERE rowid IN (SELECT value FROM json_each(?4)) {CLAIM_RETURNING}"


class Held(NamedTuple):
    """A limited queue as a claim reads it: its limits, its jobs running, and its starts as the
    last claim left them (`queue_limits.started`, before this claim trims its window)."""

    limits: QueueLimits
    running: int
    started: int


def stored_limits(conn: sqlite3.Connection, queues: Sequence[str] | None = None) -> dict[str, Held]:
    """The limited queues among `queues` (None: all of them)."""
    if queues is None:
        rows = conn.execute(HELD_SQL).fetchall()
    else:
        marks = ",".join("?" * len(queues))
        rows = conn.execute(f"{HELD_SQL} WHERE name IN ({marks})", list(queues)).fetchall()
    return {name: Held(QueueLimits(*values), running, started) for name, *values, started, running in rows}


def declare(conn: sqlite3.Connection, limits: Mapping[str, QueueLimits]) -> None:
    for name, queue_limits in limits.items():
        if queue_limits.any:
            values = (queue_limits.concurrency, queue_limits.rate, queue_limits.period)
            conn.execute(DECLARE_SQL, (name, *values, queue_limits.group_concurrency))
        else:
            conn.execute("DELETE FROM queue_limits WHERE name = ?", (name,))


def limited_queues(conn: sqlite3.Connection, now: float) -> dict[str, LimitedQueue]:
    found = {}
    for name, held in stored_limits(conn).items():
        limits, started, oldest = held.limits, 0, None
        if limits.period is not None:  # the window ending now, not the count the last claim left
            started, oldest = conn.execute(STARTED_SQL, (name, now - limits.period)).fetchone()
        found[name] = LimitedQueue(name, limits, held.running, started, room_in(limits, started, oldest, now))
    return found


def claim_rows(
    conn: sqlite3.Connection, queues: Sequence[str], worker: str, limit: int, lease: float, now: float
) -> list[Any]:
    """The claim's rows (`claim_sql`'s shape): `claim_sql` itself when no queue has limits."""
    if stored := stored_limits(conn, queues):
        return claim_limited(conn, queues, stored, worker, limit, lease, now)
    return conn.execute(claim_sql(len(queues)), (now, now + lease, worker, limit, *queues)).fetchall()


def claim_limited(
    conn: sqlite3.Connection,
    queues: Sequence[str],
    stored: Mapping[str, Held],
    worker: str,
    limit: int,
    lease: float,
    now: float,
) -> list[Any]:
    """Lease the best `limit` jobs of `queues` (some of them in `stored`) that the limits allow;
    the rows as `claim_sql` returns them. Inside the caller's write transaction. A queue with a
    rate: its starts out of the window deleted, a row of starts recorded for those claimed, and
    `started` moved by both in one update."""
    candidates: list[tuple[float, str, int]] = []
    trimmed: dict[str, int] = {}  # per queue with a rate: the starts that left its window
    for queue in queues:
        held = stored.get(queue)
        if held is None:
            candidates += [(r, i, rowid) for r, i, rowid, _ in conn.execute(HEADS_SQL, (queue, limit))]
            continue
        if held.limits.period is not None:
            trimmed[queue] = sum(n for (n,) in conn.execute(TRIM_SQL, (queue, now - held.limits.period)))
        candidates += _allowed(conn, queue, held, held.started - trimmed.get(queue, 0), limit)
    candidates.sort()
    picked = [rowid for _, _, rowid in candidates[:limit]]
    rows = (
        conn.execute(CLAIM_ROWS_SQL, (now, now + lease, worker, json.dumps(picked))).fetchall()
        if picked
        else []
    )
    started = Counter(row[4] for row in rows if row[4] in trimmed)
    for queue, left in trimmed.items():
        if started[queue]:
            conn.execute(START_SQL, (queue, now, started[queue]))
        if started[queue] or left:
            conn.execute(COUNT_STARTS_SQL, (started[queue] - left, queue))
    return rows


def _allowed(
    conn: sqlite3.Connection, queue: str, held: Held, started: int, limit: int
) -> list[tuple[float, str, int]]:
    """The best queued jobs of a limited queue its limits let start now, at most `limit`
    (`started`: its starts in the window ending now)."""
    limits, room = held.limits, limit
    if limits.concurrency is not None:
        room = min(room, limits.concurrency - held.running)
    if limits.rate is not None:
        room = min(room, limits.rate - started)
    if room <= 0:
        return []
    if limits.group_concurrency is None:
        return [(r, i, rowid) for r, i, rowid, _ in conn.execute(HEADS_SQL, (queue, room))]
    running = dict(conn.execute(GROUPS_RUNNING_SQL, (queue,)).fetchall())
    allowed = []
    for rank, job_id, rowid, group in conn.execute(HEADS_SQL, (queue, GROUP_SCAN)):
        if group is not None:
            if running.get(group, 0) >= limits.group_concurrency:
                continue  # saturated: the jobs behind it may start
            running[group] = running.get(group, 0) + 1
        allowed.append((rank, job_id, rowid))
        if len(allowed) == room:
            break
    return allowed


class _Store(Protocol):
    def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...
    def _now(self, now: float | None) -> float: ...


class LimitsOnSQLite:
    """SQLiteBackend's QueueLimitsStore methods."""

    def declare_queues(self: _Store, limits: Mapping[str, QueueLimits]) -> None:
        with self._write() as conn:
            declare(conn, limits)

    def limited_queues(self: _Store, now: float | None = None) -> dict[str, LimitedQueue]:
        at = self._now(now)
        with self._write() as conn:  # a read, but of a consistent moment
            return limited_queues(conn, at)
