"""PostgreSQL backend: many hosts share one database; several apps share it by schema.

URL: `postgresql://user@host:5432/db?schema=NAME` (default schema `taskheap`). `schema` and
`pool_size` are taskheap's own options; every other query parameter goes to libpq.

Every statement lives in a named file in sql/ (`{schema}` is filled in; numbered files are
migrations). Duties and how:
- Claim: one UPDATE over the heads of a partial index of queued jobs, locked with FOR UPDATE
  SKIP LOCKED, so it is O(log n) in queue depth and concurrent claimers never wait for each
  other; it runs in one round trip after promoting due jobs (`complete_and_claim` sends the
  previous batch's completions in the same round trip). Outcomes are batched through
  unnested arrays and accepted only with the current lease token.
- Time: `now=None` is the database clock, one clock for every worker.
- Wake-ups: a statement trigger NOTIFYs `taskheap:<schema>` with the queue name whenever a job
  becomes queued or gets a new due time (delivered at commit, so a job enqueued inside a
  caller's transaction wakes nobody until it commits), and so does resuming a paused queue
  (sql/set_paused.sql: its jobs changed nothing to trigger on). Idle workers LISTEN on a dedicated
  connection and sleep until a notification for their queues, the next due time or the timeout.
- Counts: the same trigger appends net changes per (queue, priority, state) to an append-only
  log that reads fold; counting costs the number of groups, not a scan of the jobs.
- Backpressure: an enqueue into queues with a max_length is one transaction: an advisory lock
  per such queue (limit_lock.sql), the count of its waiting jobs (queue_room.sql), then the
  plain insert (enqueue.sql) if every such queue has room. Concurrent producers of a queue take
  turns, so none takes it past its limit; queues without a limit keep the one-statement enqueue.
- Connections (postgres_connections.py): two small pools opened on first use, autocommit (one
  round trip per statement). A statement that fails on a lost connection is retried on a fresh
  one with backoff; a call with no answer within the URL's `deadline` (10 s) gives its
  connection up, since libpq would wait as long as the peer's kernel keeps it; either is then a
  StoreUnreachable naming the server. Every write is safe to retry: enqueue is idempotent by
  id, the rest are guarded by state and token.
- Admin reads (postgres_admin.py): listings and counts are planned with their values (unprepared), so unused
  filters fold away; a text search reads only the `scan` newest matching ids; the oldest job
  per queue is a loose index scan. Per-minute counters live in their own table, where the
  workers add run outcomes. New jobs are counted by enqueue.sql, in the statement that
  inserts them, as deltas appended to a log (no shared row locked, so producers in long
  transactions never block each other); reads and the Pruner fold the log into the counters.
  A job's failed attempts are a jsonb array on its row, appended by fail.sql.
- Bloat: finished jobs leave the hot indexes at once (they are partial); prune deletes them in
  small batches after their retention, and autovacuum is tuned per table (see 0001_initial.sql).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from ..errors import BackendError, ConfigError, StoreUnreachable
from ..job import FAILED_ATTEMPTS_KEPT, UNIQUE_STATES_SQL
from ..urls import redacted
from .base import (
    ALL_TIME,
    Cancellation,
    ClaimedJob,
    Completion,
    Expired,
    Failure,
    Lease,
    MinuteCount,
    NewJob,
    Postponement,
    WorkerInfo,
)
from .checks import SelfCheck, plaintext_check, unsilenced
from .counting import has_unique, limited
from .postgres_admin import AdminStatements
from .postgres_connections import Connection, Connections
from .postgres_control import ControlStatements
from .postgres_limits import LimitsOnPostgres, as_claimed
from .postgres_unique import Keyed
from .postgres_url import parse_url
from .protocols import FullBackend, TransactionalEnqueue

T = TypeVar("T")
Step = tuple[str, Mapping[str, Any]]  # (name of a file in sql/, its parameters)

#: The workers' own state changes commit without waiting for their WAL flush (a pool of their
#: own with `synchronous_commit = off`): a PostgreSQL crash can lose the last fraction of a
#: second of them, never a job. A lost claim leaves the job queued, a lost promotion leaves it
#: due; a lost completion or failure leaves it running under its lease, so the Rescuer takes
#: it back after the lease and it runs again (at least once); a lost heartbeat shortens a
#: lease; lost counters undercount. Enqueue, release, postpone and the admin writes stay durable.
FAST_COMMIT = frozenset(
    {"promote_due", "claim", "limited_of", "complete", "fail", "heartbeat", "record_minutes"}
)
#: Statements that may run long by design, without the URL's deadline (migrations neither).
UNBOUNDED = frozenset({"replay", "purge"})
_MIGRATION_FILE = re.compile(r"(\d{4})_\w+\.sql")


class PostgresBackend(
    AdminStatements, ControlStatements, LimitsOnPostgres, FullBackend, TransactionalEnqueue
):
    def __init__(self, url: str) -> None:
        self.url = url
        self.conninfo, self.schema, self.pool_size, self.deadline = parse_url(url)
        self.where = redacted(url, query=False)
        self.channel = f"taskheap:{self.schema}"
        self._statements = Statements(self.schema)
        self._connections = Connections(
            self.conninfo, self.where, self.channel, self.pool_size, self.deadline
        )
        self._limited: set[str] = set()  # requested queues seen with limits (postgres_limits.py)
        self._listener: Connection | None = None
        self._listener_lock = threading.Lock()

    # -- connections (postgres_connections.py) ----------------------------------------------
    def _run(self, work: Callable[[Connection], T], fast_commit: bool = False, bounded: bool = True) -> T:
        return self._connections.run(work, fast_commit, bounded)

    def _statement(self, name: str) -> str:
        return self._statements[name]

    def _execute(
        self, steps: Sequence[Step], prepare: bool | None, conn: Connection
    ) -> list[psycopg.Cursor[Any]]:
        """Send the statements in one round trip; a cursor per statement."""
        if len(steps) == 1:
            name, params = steps[0]
            return [conn.execute(self._statements[name], params, prepare=prepare)]
        with conn.pipeline():
            return [conn.execute(self._statements[name], params, prepare=prepare) for name, params in steps]

    def _rows(self, *steps: Step, prepare: bool | None = None) -> list[tuple[Any, ...]]:
        return self._run(
            lambda conn: self._execute(steps, prepare, conn)[-1].fetchall(), _fast(steps), _bounded(steps)
        )

    def _rowcount(self, *steps: Step, prepare: bool | None = None) -> int:
        return self._run(
            lambda conn: self._execute(steps, prepare, conn)[-1].rowcount, _fast(steps), _bounded(steps)
        )

    def _rows_by_step(self, steps: Sequence[Step]) -> dict[str, list[tuple[Any, ...]]]:
        """Every statement's rows, by statement name (for steps of distinct names)."""

        def rows(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
            cursors = self._execute(steps, None, conn)
            return {name: cursor.fetchall() for (name, _), cursor in zip(steps, cursors, strict=True)}

        return self._run(rows, _fast(steps), _bounded(steps))

    # -- lifecycle ----------------------------------------------------------------------
    def migrate(self) -> None:
        """Apply the numbered migrations not applied yet, under an advisory lock: concurrent
        callers wait for each other, and re-running is a no-op."""
        self._run(self._migrate, bounded=False)

    def _migrate(self, conn: Connection) -> None:
        with conn.transaction():
            conn.execute(self._statements["migrate_lock"], {"key": f"taskheap:migrate:{self.schema}"})
            conn.execute(self._statements["migrations_table"])
            applied = {version for (version,) in conn.execute(self._statements["applied_migrations"])}
            for version, name in migrations():
                if version not in applied:
                    conn.execute(self._statements[name])
                    conn.execute(self._statements["record_migration"], {"version": version, "name": name})

    def self_checks(self) -> list[SelfCheck]:
        """Reached over the network without TLS."""
        host = conninfo_to_dict(self.conninfo).get("host")
        encrypted = self._run(lambda conn: bool(conn.pgconn.ssl_in_use))
        return unsilenced(plaintext_check("PostgreSQL", self.where, str(host) if host else None, encrypted))

    def close(self) -> None:
        self._connections.close()
        with self._listener_lock:
            self._drop_listener()

    # -- producers ----------------------------------------------------------------------
    def enqueue(
        self, jobs: Sequence[NewJob], limits: Mapping[str, int] | None = None, now: float | None = None
    ) -> dict[str, str]:
        """Into limited queues: counted and inserted in one transaction (_enqueue_limited).
        Jobs with a unique key: postgres_unique.py, in one transaction with the call's others."""
        room = limited(jobs, limits) if limits else None
        if room:
            return self._run(lambda conn: self._enqueue_limited(conn, jobs, room, now, own=True))
        if has_unique(jobs):
            return self._run(lambda conn: Keyed(conn, self._statements, jobs, now, _enqueue_params).alone())
        self._rowcount(("enqueue", _enqueue_params(jobs)))
        return {}

    def enqueue_in(
        self,
        conn: Connection,
        jobs: Sequence[NewJob],
        limits: Mapping[str, int] | None = None,
        now: float | None = None,
    ) -> dict[str, str]:
        """Enqueue inside the caller's open transaction on their own psycopg connection.

        The jobs exist only if that transaction commits, and idle workers are notified only
        then; if it rolls back they never run. Nothing is committed here. (On an autocommit
        connection the insert commits at once, like `enqueue`.) Into a limited queue, the
        caller's transaction holds the queue's lock (limit_lock.sql) until it ends: the queue's
        other producers wait for it. READ COMMITTED (the default) or SERIALIZABLE (a conflict
        is a serialization failure) only: REPEATABLE READ would count in an older snapshot.
        """
        room = limited(jobs, limits) if limits else None
        own = conn.autocommit and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        try:
            if room:  # own: a transaction of its own, so the lock is held to its commit
                return self._enqueue_limited(conn, jobs, room, now, own=own)
            if has_unique(jobs):
                keyed = Keyed(conn, self._statements, jobs, now, _enqueue_params)
                return keyed.alone() if own else keyed.insert()
            conn.execute(self._statements["enqueue"], _enqueue_params(jobs))
            return {}
        except psycopg.Error as exc:
            raise BackendError(f"enqueue in the caller's transaction failed: {exc}") from exc

    def _enqueue_limited(
        self,
        conn: Connection,
        jobs: Sequence[NewJob],
        room: dict[str, tuple[int, int]],
        now: float | None,
        *,
        own: bool,
    ) -> dict[str, str]:
        """limit_lock.sql, the jobs with a unique key, queue_room.sql, then enqueue.sql if every
        limited queue has room, else QueueFull for the first without (postgres_unique.Keyed).
        `own`: in a READ COMMITTED transaction of its own; else in the caller's (checked)."""
        keys = {"keys": [f"taskheap:limit:{self.schema}:{queue}" for queue in room]}
        lengths = [max_length for max_length, _ in room.values()]
        keyed = Keyed(conn, self._statements, jobs, now, _enqueue_params)
        duplicates: dict[str, str] = {}
        if own:
            wait = self._connections.deadline / 2
            try:
                with conn.pipeline(), conn.transaction():
                    conn.execute(self._statements["read_committed"])
                    conn.execute(self._statements["limit_lock_timeout"], {"timeout": f"{wait * 1000:.0f}ms"})
                    conn.execute(self._statements["limit_lock"], keys)
                    duplicates = keyed.insert({"limited": list(room), "max_lengths": lengths})
            except psycopg.errors.LockNotAvailable:
                raise BackendError(
                    f"enqueue into {', '.join(room)} on PostgreSQL at {self.where}: waited {wait:g}s for"
                    " another producer's transaction, which enqueued into that queue with a max_length"
                    " and holds it until it commits or rolls back"
                ) from None
        else:
            isolation, _ = conn.execute(self._statements["limit_lock"], keys).fetchone() or ("", 0)
            if isolation == "repeatable read":
                raise ConfigError(
                    "enqueue into a queue with a max_length inside a REPEATABLE READ transaction"
                    " would count in a snapshot older than its lock: use READ COMMITTED or SERIALIZABLE"
                )
            with conn.transaction():  # a savepoint: QueueFull undoes the jobs with a key inserted
                duplicates = keyed.insert({"limited": list(room), "max_lengths": lengths})
        return duplicates

    # -- workers ------------------------------------------------------------------------
    def claim(
        self, queues: Sequence[str], worker: str, limit: int, lease: float, now: float | None = None
    ) -> list[ClaimedJob]:
        return self.complete_and_claim([], queues, worker, limit, lease, now)[1]

    def complete_and_claim(
        self,
        done: Sequence[Completion],
        queues: Sequence[str],
        worker: str,
        limit: int,
        lease: float,
        now: float | None = None,
    ) -> tuple[list[str], list[ClaimedJob]]:
        """`complete(done)` then `claim(...)`, pipelined: one round trip (postgres_limits.py
        for queues with limits)."""
        if limit > 0 and self._limited.intersection(queues):
            steps = _complete_steps(done, now)
            completed, claimed = self._claim_limited(steps, queues, worker, limit, lease, now)
            return [job_id for (job_id,) in completed], as_claimed(claimed)
        steps = [*_complete_steps(done, now), *_claim_steps(queues, worker, limit, lease, now)]
        if not steps:
            return [], []
        rows = self._rows_by_step(steps)
        claimed = rows.get("claim", [])
        limited = [name for (name,) in rows.get("limited_of", [])]
        self._limited.update(limited)
        if limited and limit > len(claimed):  # first seen: claimed in their own way at once
            claimed += self._claim_limited([], limited, worker, limit - len(claimed), lease, now)[1]
        return [job_id for (job_id,) in rows.get("complete", [])], as_claimed(claimed)

    def heartbeat(
        self, worker: WorkerInfo, leases: Sequence[Lease], lease: float, now: float | None = None
    ) -> set[str]:
        params = {
            "worker": worker.id,
            "host": worker.host,
            "pid": worker.pid,
            "worker_queues": worker.queues,
            "concurrency": worker.concurrency,
            "started_at": worker.started_at,
            "jobs": worker.jobs,
            "tasks": worker.tasks,
            "worker_lease": worker.lease,
            "processed": worker.processed,
            "per_minute": worker.per_minute,
            "ids": [job_id for job_id, _ in leases],
            "tokens": [token for _, token in leases],
            "lease": lease,
            "now": now,
        }
        return {job_id for (job_id,) in self._rows(("heartbeat", params))}

    def complete(self, done: Sequence[Completion], now: float | None = None) -> list[str]:
        steps = _complete_steps(done, now)
        return [job_id for (job_id,) in self._rows(*steps)] if steps else []

    def fail(self, failures: Sequence[Failure], now: float | None = None) -> list[str]:
        if not failures:
            return []
        ids, tokens, errors, tracebacks, retry_in = (list(column) for column in zip(*failures, strict=True))
        params = {
            "ids": ids,
            "tokens": tokens,
            "errors": errors,
            "tracebacks": tracebacks,
            "retry_in": _floats(retry_in),
            "now": now,
            "kept": FAILED_ATTEMPTS_KEPT,
        }
        return [job_id for (job_id,) in self._rows(("fail", params))]

    def release(self, leases: Sequence[Lease]) -> None:
        if leases:
            ids, tokens = (list(column) for column in zip(*leases, strict=True))
            self._rowcount(("release", {"ids": ids, "tokens": tokens}))

    def postpone(self, items: Sequence[Postponement], now: float | None = None) -> list[str]:
        if not items:
            return []
        ids, tokens, delays, unknown_tasks = (list(column) for column in zip(*items, strict=True))
        params = {"ids": ids, "tokens": tokens, "delays": _floats(delays), "unknown_tasks": unknown_tasks}
        return [job_id for (job_id,) in self._rows(("postpone", {**params, "now": now}))]

    def cancel_claimed(self, items: Sequence[Cancellation], now: float | None = None) -> list[str]:
        if not items:
            return []
        ids, tokens, reasons = (list(column) for column in zip(*items, strict=True))
        params = {"ids": ids, "tokens": tokens, "reasons": reasons, "now": now}
        return [job_id for (job_id,) in self._rows(("cancel_claimed", params))]

    def wait_for_work(self, queues: Sequence[str], timeout: float, now: float | None = None) -> None:
        deadline = time.monotonic() + timeout
        with self._listener_lock:
            try:
                self._wait_for_work(list(queues), deadline, now)
            except psycopg.Error as exc:
                self._drop_listener()  # reconnect and listen again on the next call
                failed = StoreUnreachable if isinstance(exc, psycopg.OperationalError) else BackendError
                raise failed(f"listening for work on PostgreSQL at {self.where}: {exc}") from None

    def _wait_for_work(self, queues: list[str], deadline: float, now: float | None) -> None:
        conn = self._listening()
        for _ in conn.notifies(timeout=0):
            pass  # older wake-ups: the check below sees everything committed until now
        params = {"queues": queues, "now": now}
        check = self._connections.within_deadline(
            conn, lambda c: c.execute(self._statements["idle_check"], params)
        )
        row = check.fetchone()
        assert row is not None
        queued, due_in = row
        if queued:
            return
        if due_in is not None:
            deadline = min(deadline, time.monotonic() + max(due_in, 0.0))
        while (remaining := deadline - time.monotonic()) > 0:
            for note in conn.notifies(timeout=remaining, stop_after=1):
                if note.payload in queues:
                    return

    def _listening(self) -> Connection:
        if self._listener is None:
            conn = self._connections.connect()
            listen = sql.SQL("LISTEN {}").format(sql.Identifier(self.channel))
            try:
                self._connections.within_deadline(conn, lambda c: c.execute(listen))
            except psycopg.Error:
                conn.close()
                raise
            self._listener = conn
        return self._listener

    def _drop_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def unregister(self, worker: str) -> None:
        self._rowcount(("unregister", {"worker": worker}))

    # -- maintenance --------------------------------------------------------------------
    def promote_due(self, now: float | None = None) -> int:
        return int(self._rows(("promote_due", {"now": now}))[0][0])

    def expire_due(self, limit: int, now: float | None = None) -> list[Expired]:
        return [Expired(*row) for row in self._rows(("expire_due", {"limit": limit, "now": now}))]

    def expired(self, limit: int, now: float | None = None) -> list[ClaimedJob]:
        return [ClaimedJob(*row) for row in self._rows(("expired", {"limit": limit, "now": now}))]

    def prune(self, retention: float, limit: int, now: float | None = None) -> int:
        """Also folds the job_counts log, so it stays small when nobody reads the counts, and
        deletes unique windows that ended."""
        params = {"retention": retention, "limit": limit, "now": now}
        return self._rowcount(("fold_counts", {}), ("prune_windows", params), ("prune", params))

    def forget_workers(self, silence: float, now: float | None = None) -> int:
        return self._rowcount(("forget_workers", {"silence": silence, "now": now}))

    # -- per-minute counters ------------------------------------------------------------
    def record_minutes(self, rows: Sequence[MinuteCount]) -> None:
        if rows:
            self._rowcount(("record_minutes", _minute_params(rows)))

    def minutes(self, since: int) -> list[MinuteCount]:
        """Folds the `enqueued` deltas first, so the read sums few of them."""
        rows = self._rows(("fold_minutes", {}), ("minutes", {"since": since}))
        return [MinuteCount(*row) for row in rows]

    def forget_minutes(self, before: int) -> int:
        """Folds the `enqueued` deltas first (the Pruner calls this on every run, so they stay
        few when nobody reads the counters)."""
        return self._rowcount(("fold_minutes", {}), ("forget_minutes", {"before": before}))


class Statements:
    """The named SQL files of sql/, filled in for one schema on first use and kept as text
    (composing on every call would cost more than some of the statements themselves)."""

    def __init__(self, schema: str) -> None:
        fragments = ("job_filter", "claim_lease", "claimed_columns")  # parts of other statements
        names: dict[str, sql.Composable] = {name: sql.SQL(_text(name)) for name in fragments}
        names |= {"schema": sql.Identifier(schema), "unique_states": sql.SQL(UNIQUE_STATES_SQL)}
        names["matching"] = sql.SQL(_text("matching")).format(**names)
        self._names = names
        self._rendered: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        text = self._rendered.get(name)
        if text is None:
            composed = sql.SQL(_text(name)).format(**self._names)
            text = self._rendered[name] = composed.as_string()
        return text


@cache
def _text(name: str) -> str:
    return (resources.files(__package__) / "sql" / f"{name}.sql").read_text(encoding="utf-8")


@cache
def migrations() -> list[tuple[int, str]]:
    """(version, file name without .sql) of every numbered migration, in order."""
    found = []
    for entry in (resources.files(__package__) / "sql").iterdir():
        match = _MIGRATION_FILE.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name.removesuffix(".sql")))
    return sorted(found)


def _enqueue_params(jobs: Sequence[NewJob]) -> dict[str, Any]:
    return {
        "all_time": ALL_TIME,
        "ids": [j.id for j in jobs],
        "tasks": [j.task for j in jobs],
        "queues": [j.queue for j in jobs],
        "priorities": [j.priority for j in jobs],
        "ranks": _floats(j.rank for j in jobs),
        "payloads": [j.payload for j in jobs],
        "retries": [j.retries for j in jobs],
        "backoffs": [j.backoff for j in jobs],
        "timeouts": _floats(j.timeout for j in jobs),
        "enqueued_at": _floats(j.enqueued_at for j in jobs),
        "run_at": _floats(j.run_at for j in jobs),
        "metas": [j.meta for j in jobs],
        "expires_at": _floats(j.expires_at for j in jobs),
        "groups": [j.group for j in jobs],
    }


def _floats(values: Iterable[float | None]) -> list[float | None]:
    """Ints made floats: psycopg refuses to send a list of mixed types as one array."""
    return [None if value is None else float(value) for value in values]


def _fast(steps: Sequence[Step]) -> bool:
    return all(name in FAST_COMMIT for name, _ in steps)


def _bounded(steps: Sequence[Step]) -> bool:
    return not any(name in UNBOUNDED for name, _ in steps)


def _complete_steps(done: Sequence[Completion], now: float | None) -> list[Step]:
    if not done:
        return []
    ids, tokens, results = (list(column) for column in zip(*done, strict=True))
    return [("complete", {"ids": ids, "tokens": tokens, "results": results, "now": now})]


def _claim_steps(
    queues: Sequence[str], worker: str, limit: int, lease: float, now: float | None
) -> list[Step]:
    """Promote due jobs, then lease the best `limit` (claim.sql); nothing when nothing is asked."""
    if limit <= 0 or not queues:
        return []
    params = {"queues": list(queues), "worker": worker, "limit": limit, "lease": lease, "now": now}
    return [("promote_due", {"now": now}), ("claim", params), ("limited_of", {"queues": list(queues)})]


def _minute_params(rows: Sequence[MinuteCount]) -> dict[str, list[Any]]:
    return {
        "minutes": [r.minute for r in rows],
        "queues": [r.queue for r in rows],
        "tasks": [r.task for r in rows],
        "completed": [r.completed for r in rows],
        "retried": [r.retried for r in rows],
        "dead": [r.dead for r in rows],
        "enqueued": [r.enqueued for r in rows],
        "cancelled": [r.cancelled for r in rows],
    }
