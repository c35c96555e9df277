"""Unique jobs on PostgreSQL: each job with a key is inserted by its own statement
(sql/enqueue_unique.sql), in the transaction of the call's other jobs; one round trip for a call
(the statements are pipelined), and a second only for a job whose holder committed while its
statement ran (its snapshot could not see it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from psycopg import Connection

from ..errors import BackendError, QueueFull
from .base import ALL_TIME, NewJob
from .counting import resolved

#: Runs of a job's statement while neither inserted nor seeing its holder: each sees the holders
#: committed before it, so more than a couple means a snapshot that does not move (REPEATABLE READ).
_TRIES = 3


class StatementText(Protocol):
    def __getitem__(self, name: str, /) -> str: ...


class Keyed:
    """One enqueue call's jobs, split into those with a unique key and the others."""

    def __init__(
        self,
        conn: Connection,
        statements: StatementText,
        jobs: Sequence[NewJob],
        now: float | None,
        params: Callable[[Sequence[NewJob]], dict[str, Any]],
    ) -> None:
        self.conn, self.statements, self.now, self.params = conn, statements, now, params
        self.keyed = [j for j in jobs if j.unique_key is not None]
        self.plain = [j for j in jobs if j.unique_key is None]

    def alone(self) -> dict[str, str]:
        """`insert` in a READ COMMITTED transaction of its own."""
        with self.conn.pipeline(), self.conn.transaction():
            self.conn.execute(self.statements["read_committed"])
            return self.insert()

    def insert(self, room: dict[str, Any] | None = None) -> dict[str, str]:
        """The jobs with a key, then (with `room`, queue_room.sql's limited queues and their
        max_lengths, after limit_lock.sql) the count of the room, where the keyed jobs inserted
        count as waiting and the duplicates take none, then the others. QueueFull when a limited
        queue has no room (the caller's transaction or savepoint rolls back). The duplicates."""
        statements = self.statements
        duplicates = (
            insert_keyed(self.conn, statements["enqueue_unique"], self.keyed, self.now) if self.keyed else {}
        )
        if room is not None:
            batch = {**room, "ids": [j.id for j in self.plain], "queues": [j.queue for j in self.plain]}
            if full := self.conn.execute(statements["queue_room"], batch).fetchall():
                raise QueueFull(*full[0])
        if self.plain:
            self.conn.execute(statements["enqueue"], self.params(self.plain))
        return duplicates


def insert_keyed(
    conn: Connection, statement: str, jobs: Sequence[NewJob], now: float | None
) -> dict[str, str]:
    """Insert the jobs (each with a unique key) whose key is free, in `conn`'s transaction; return
    the duplicates (as Backend.enqueue returns them)."""
    duplicates: dict[str, str] = {}
    pending = list(jobs)
    for _ in range(_TRIES):
        cursors = [(job, conn.execute(statement, _params(job, now))) for job in pending]
        pending = []
        for job, cursor in cursors:
            inserted, holder = cursor.fetchone() or (False, None)
            if holder is not None and not inserted:
                duplicates[job.id] = holder
            elif not inserted:
                pending.append(job)
        if not pending:
            return resolved(duplicates)
    raise BackendError(
        f"enqueue of unique key {pending[0].unique_key!r}: the key stays held by a job this transaction"
        " cannot see (REPEATABLE READ?): use READ COMMITTED or SERIALIZABLE"
    )


def _params(job: NewJob, now: float | None) -> dict[str, Any]:
    return {
        "id": job.id,
        "task": job.task,
        "queue": job.queue,
        "priority": job.priority,
        "rank": float(job.rank),
        "payload": job.payload,
        "retries": job.retries,
        "backoff": job.backoff,
        "timeout": job.timeout,
        "enqueued_at": float(job.enqueued_at),
        "run_at": job.run_at,
        "meta": job.meta,
        "expires_at": job.expires_at,
        "group": job.group,
        "unique_key": job.unique_key,
        "unique_for": job.unique_for,
        "now": now,
        "all_time": ALL_TIME,
    }
