"""Limits at claim on PostgreSQL (sql/claim_lock.sql, sql/claim_limited.sql).

claim.sql never claims from a queue with limits, and tells the client which requested queues
have them (limited_of.sql, in the same round trip); the client claims those, from then on, in a
transaction of its own: the limits rows of the requested queues locked (claim_lock.sql, so the
claimers of one limited queue take turns; queues without limits lock nothing), then
claim_limited.sql, whose snapshot, after the lock, sees every committed claim of them. One
round trip: the previous batch's completions (a transaction of their own, committed first),
then the claim's BEGIN, statements and COMMIT, all queued in one pipeline with one sync, so
the lock is held for the server's work only, never across a round trip. A queue whose limits were
removed is claimed by claim.sql again once a limited claim finds no row for it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from .base import ClaimedJob
from .queue_limits import GROUP_SCAN, LimitedQueue, QueueLimits, room_in

T = TypeVar("T")
Step = tuple[str, Mapping[str, Any]]


class _Store(Protocol):
    _limited: set[str]

    def _run(self, work: Callable[[Any], T], fast_commit: bool = False, bounded: bool = True) -> T: ...
    def _rows(self, *steps: Step, prepare: bool | None = None) -> list[tuple[Any, ...]]: ...
    def _rowcount(self, *steps: Step, prepare: bool | None = None) -> int: ...
    @property
    def _statements(self) -> Any: ...


class LimitsOnPostgres:
    """PostgresBackend's QueueLimitsStore methods and its limited claim."""

    def declare_queues(self: _Store, limits: Mapping[str, QueueLimits]) -> None:
        if limits:
            params = {
                "names": list(limits),
                "concurrency": [q.concurrency for q in limits.values()],
                "rate": [q.rate for q in limits.values()],
                "period": [q.period for q in limits.values()],
                "group_concurrency": [q.group_concurrency for q in limits.values()],
            }
            self._rowcount(("declare_queues", params))

    def limited_queues(self: _Store, now: float | None = None) -> dict[str, LimitedQueue]:
        rows = self._rows(("limited_queues", {"now": now}))
        found = {}
        for name, *values, running, started, oldest, at in rows:
            limits = QueueLimits(*values)
            found[name] = LimitedQueue(name, limits, running, started, room_in(limits, started, oldest, at))
        return found

    def _claim_limited(
        self: _Store,
        complete: Sequence[Step],
        queues: Sequence[str],
        worker: str,
        limit: int,
        lease: float,
        now: float | None,
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The completions' rows and the claimed rows (claim.sql's shape)."""
        statements = self._statements
        params = {"queues": list(queues), "worker": worker, "limit": limit, "lease": lease, "now": now}

        def work(conn: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
            with conn.pipeline():  # on an error, the pool's `with conn` rolls the claim back
                completed = _in_transaction(conn, statements, complete) if complete else []
                _, locked, _, claimed = _in_transaction(
                    conn,
                    statements,
                    [
                        ("claim_plan", {}),
                        ("claim_lock", {"queues": list(queues)}),
                        ("promote_due", {"now": now}),
                        ("claim_limited", {**params, "group_scan": GROUP_SCAN}),
                    ],
                )
            limited = {name for (name,) in locked.fetchall()}
            self._limited.difference_update(set(queues) - limited)
            self._limited.update(limited)
            return [row for cursor in completed for row in cursor.fetchall()], claimed.fetchall()

        return self._run(work, fast_commit=True)


def _in_transaction(conn: Any, statements: Any, steps: Sequence[Step]) -> list[Any]:
    """The steps between begin_read_committed.sql and commit.sql, queued in the connection's
    pipeline (psycopg's `conn.transaction()` there would wait for the server twice more, at
    its start and at its end); their cursors."""
    conn.execute(statements["begin_read_committed"])
    cursors = [conn.execute(statements[name], params) for name, params in steps]
    conn.execute(statements["commit"])
    return cursors


def as_claimed(rows: list[tuple[Any, ...]]) -> list[ClaimedJob]:
    """Claimed rows (rank first) as ClaimedJobs in rank order."""
    return [ClaimedJob(*row[1:]) for row in sorted(rows)]
