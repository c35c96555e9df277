"""SQLite's admin reads and writes (listings, counts, workers, replay, purge, pause), as a base
of SQLiteBackend, whose connections run them."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ...job import JobState
from ..base import Counts, JobQuery, JobRecord, Replayed, WorkerInfo
from .clock import StoreClock
from .queries import (
    BY_TEXT,
    QUEUE_NAMES,
    RECORD_COLUMNS,
    WORKERS_SQL,
    as_stored,
    matching,
    record_of,
    replay_sql,
    worker_of,
)


class _Store(Protocol):
    def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...
    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...
    def store_clock(self) -> StoreClock: ...


class AdminOnSQLite:
    """SQLiteBackend's admin reads and writes."""

    def get(self: _Store, job_id: str) -> JobRecord | None:
        rows = self._read(f"SELECT {RECORD_COLUMNS} FROM jobs WHERE id = {BY_TEXT}", (as_stored(job_id),))
        return record_of(rows[0]) if rows else None

    def list_jobs(self: _Store, query: JobQuery) -> list[JobRecord]:
        source, params = matching(query)
        rows = self._read(
            f"SELECT {RECORD_COLUMNS} FROM {source} ORDER BY id DESC LIMIT ?", (*params, query.limit)
        )
        return [record_of(row) for row in rows]

    def count_jobs(self: _Store, query: JobQuery) -> int:
        source, params = matching(query)
        return int(self._read(f"SELECT COUNT(*) FROM {source}", params)[0][0])

    def oldest(self: _Store, state: JobState) -> dict[str, float]:
        rows = self._read(
            f"WITH RECURSIVE {QUEUE_NAMES} SELECT name, (SELECT enqueued_at FROM jobs"
            " WHERE queue = q.name AND state = ? ORDER BY id LIMIT 1) FROM q WHERE name IS NOT NULL",
            (state,),
        )
        return {queue: at for queue, at in rows if at is not None}

    def counts(self: _Store) -> Counts:
        """One index range count per (queue, state): no grouping pass over the whole table."""
        counts: Counts = {name: {} for (name,) in self._read("SELECT name FROM queues")}
        states = " UNION ALL ".join(f"SELECT '{state}'" for state in JobState)
        rows = self._read(
            f"WITH RECURSIVE {QUEUE_NAMES}, s(state) AS ({states}) SELECT q.name, s.state,"
            " (SELECT COUNT(*) FROM jobs WHERE queue = q.name AND state = s.state)"
            " FROM q, s WHERE q.name IS NOT NULL"
        )
        for queue, state, n in rows:
            if n:
                counts.setdefault(queue, {})[state] = n
        return counts

    def queued_by_priority(self: _Store) -> dict[str, dict[int, int]]:
        depth: dict[str, dict[int, int]] = {}
        for queue, priority, n in self._read(
            "SELECT queue, priority, COUNT(*) FROM jobs INDEXED BY jobs_queued_priority"
            " WHERE state = 'queued' GROUP BY queue, priority"
        ):
            depth.setdefault(queue, {})[priority] = n
        return depth

    def workers(self: _Store) -> list[WorkerInfo]:
        rows = self._read(WORKERS_SQL)
        now = self.store_clock().now()
        return [worker_of(row, now) for row in rows]

    def replay(self: _Store, query: JobQuery) -> Replayed:
        source, params = matching(query)
        with self._write() as conn:
            counted = conn.execute(replay_sql(source, "count(*)"), (*params, query.limit))
            (chosen,) = counted.fetchone()
            replayed = conn.execute(replay_sql(source), (*params, query.limit)).rowcount
            return Replayed(replayed, chosen - replayed)

    def purge(self: _Store, query: JobQuery) -> int:
        source, params = matching(query)
        with self._write() as conn:
            return conn.execute(
                f"DELETE FROM jobs WHERE id IN (SELECT id FROM {source} LIMIT ?)", (*params, query.limit)
            ).rowcount

    def set_paused(self: _Store, queue: str, paused: bool) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO queues (name, paused) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
                (queue, int(paused)),
            )

    def paused(self: _Store) -> set[str]:
        return {name for (name,) in self._read("SELECT name FROM queues WHERE paused = 1")}
