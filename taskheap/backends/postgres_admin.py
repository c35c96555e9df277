"""PostgreSQL's admin reads and writes (listings, counts, workers, replay, purge, pause), as a
base of PostgresBackend, whose `_rows` and `_rowcount` run them. Listings and counts are
planned with their values (unprepared), so unused filters fold away."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg

from ..job import JobState
from .base import Counts, JobQuery, JobRecord, Replayed, WorkerInfo, record_from_columns

Step = tuple[str, Mapping[str, Any]]
T = TypeVar("T")
#: Statements a replay may try: each try that meets a unique key taken since its snapshot is
#: followed by one whose snapshot sees the holder (so its job stays dead, counted as held).
REPLAY_TRIES = 5


class AdminStatements:
    channel: str  # PostgresBackend's: resuming a queue notifies its idle workers there

    def _rows(self, *steps: Step, prepare: bool | None = None) -> list[tuple[Any, ...]]:
        raise NotImplementedError  # PostgresBackend's

    def _rowcount(self, *steps: Step, prepare: bool | None = None) -> int:
        raise NotImplementedError  # PostgresBackend's

    def _run(
        self, work: Callable[[psycopg.Connection[Any]], T], fast_commit: bool = False, bounded: bool = True
    ) -> T:
        raise NotImplementedError  # PostgresBackend's

    def _statement(self, name: str) -> str:
        raise NotImplementedError  # PostgresBackend's

    def get(self, job_id: str) -> JobRecord | None:
        rows = self._rows(("get", {"id": job_id}))
        return _record(rows[0]) if rows else None

    def list_jobs(self, query: JobQuery) -> list[JobRecord]:
        rows = self._rows(("list_jobs", _filter_params(query)), prepare=False)
        return [_record(row) for row in rows]

    def count_jobs(self, query: JobQuery) -> int:
        return int(self._rows(("count_jobs", _filter_params(query)), prepare=False)[0][0])

    def oldest(self, state: JobState) -> dict[str, float]:
        rows = self._rows(("oldest", {"state": state}), prepare=False)
        return dict(rows)

    def counts(self) -> Counts:
        counts: Counts = {}
        for queue, state, n in self._rows(("fold_counts", {}), ("counts", {})):
            by_state = counts.setdefault(queue, {})
            if state is not None:
                by_state[state] = n
        return counts

    def queued_by_priority(self) -> dict[str, dict[int, int]]:
        depth: dict[str, dict[int, int]] = {}
        for queue, priority, n in self._rows(("queued_by_priority", {})):
            depth.setdefault(queue, {})[priority] = n
        return depth

    def workers(self) -> list[WorkerInfo]:
        return [WorkerInfo(*row) for row in self._rows(("workers", {}))]

    def replay(self, query: JobQuery) -> Replayed:
        """One statement (sql/replay.sql), again if a producer took the key of a dead job it
        chose after its snapshot was taken: the unique index refuses the whole statement then,
        and the next one sees the new holder."""
        text, params = self._statement("replay"), _filter_params(query)

        def replay(conn: psycopg.Connection[Any]) -> tuple[int, int]:
            for _ in range(REPLAY_TRIES - 1):
                try:
                    return _counts(conn.execute(text, params, prepare=False).fetchone())
                except psycopg.errors.UniqueViolation:
                    continue  # autocommit: the statement was rolled back whole
            return _counts(conn.execute(text, params, prepare=False).fetchone())

        return Replayed(*self._run(replay, bounded=False))

    def purge(self, query: JobQuery) -> int:
        return self._rowcount(("purge", _filter_params(query)), prepare=False)

    def set_paused(self, queue: str, paused: bool) -> None:
        self._rows(("set_paused", {"queue": queue, "paused": paused, "channel": self.channel}))

    def paused(self) -> set[str]:
        return {name for (name,) in self._rows(("paused", {}))}


def _filter_params(query: JobQuery) -> dict[str, Any]:
    return {
        "ids": list(query.ids) if query.ids is not None else None,
        "queue": query.queue,
        "state": query.state,
        "task": query.task,
        "before": query.before,
        "after": query.after,
        "text": query.text,
        "scan": query.scan,
        "limit": query.limit,
    }


def _counts(row: tuple[Any, ...] | None) -> tuple[int, int]:
    assert row is not None  # replay.sql returns one row
    return int(row[0]), int(row[1])


def _record(row: Sequence[Any]) -> JobRecord:
    *columns, failed_attempts = row
    return record_from_columns(columns, failed_attempts)
