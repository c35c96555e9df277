"""Embedded backend: one SQLite file in WAL mode, shared by many worker processes on one host.

Every state change is one short IMMEDIATE transaction; claim is one UPDATE … RETURNING over a
partial index of queued jobs ordered by (queue, rank, id), so claim, complete and retry are
O(log n) in queue depth. Connections are per thread. Idle workers watch `PRAGMA data_version`
(a read of the shared WAL index, no disk I/O), which changes whenever another connection commits.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import BackendError, ConfigError
from ..job import FAILED_ATTEMPTS_KEPT, FailedAttempt, JobState
from .base import (
    ClaimedJob,
    Completion,
    Counts,
    Failure,
    JobQuery,
    JobRecord,
    Lease,
    MinuteCount,
    NewJob,
    WorkerInfo,
)
from .counting import enqueued_rows
from .protocols import FullBackend, TransactionalEnqueue

_MIGRATIONS = (
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        task TEXT NOT NULL,
        queue TEXT NOT NULL,
        priority INTEGER NOT NULL,
        rank REAL NOT NULL,
        state TEXT NOT NULL,
        payload TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        retries INTEGER NOT NULL,
        backoff TEXT,
        timeout REAL,
        enqueued_at REAL NOT NULL,
        run_at REAL,
        started_at REAL,
        finished_at REAL,
        lease_until REAL,
        token TEXT,
        worker TEXT,
        result TEXT,
        error TEXT,
        traceback TEXT
    );
    CREATE INDEX jobs_runnable ON jobs (queue, rank, id) WHERE state = 'queued';
    CREATE INDEX jobs_due ON jobs (run_at) WHERE state IN ('scheduled', 'retrying');
    CREATE INDEX jobs_leases ON jobs (lease_until) WHERE state = 'running';
    CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state IN ('succeeded', 'cancelled');
    CREATE INDEX jobs_by_queue_state ON jobs (queue, state, id);
    CREATE TABLE queues (name TEXT PRIMARY KEY, paused INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE workers (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        queues TEXT NOT NULL,
        concurrency INTEGER NOT NULL,
        started_at REAL NOT NULL,
        last_seen REAL NOT NULL,
        jobs TEXT NOT NULL
    );
    """,
    """
    CREATE INDEX jobs_by_state ON jobs (state, id);
    CREATE INDEX jobs_by_queue ON jobs (queue, id);
    CREATE INDEX jobs_queued_priority ON jobs (queue, priority) WHERE state = 'queued';
    CREATE TABLE minutes (
        minute INTEGER NOT NULL,
        queue TEXT NOT NULL,
        task TEXT NOT NULL,
        completed INTEGER NOT NULL DEFAULT 0,
        retried INTEGER NOT NULL DEFAULT 0,
        dead INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (minute, queue, task)
    ) WITHOUT ROWID;
    """,
    """
    ALTER TABLE jobs ADD COLUMN failed_attempts TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE minutes ADD COLUMN enqueued INTEGER NOT NULL DEFAULT 0;
    """,
)

_RECORD_COLUMNS = (
    "id, task, queue, priority, state, payload, attempts, retries, enqueued_at, run_at, "
    "started_at, finished_at, worker, result, error, traceback, failed_attempts"
)
_CLAIMED_COLUMNS = "id, task, queue, priority, payload, attempts, retries, backoff, timeout, token"
_WAITING = "state IN ('scheduled', 'retrying')"
#: The distinct queue names by a loose index scan: one index probe per queue (then a NULL row).
_QUEUE_NAMES = (
    "q(name) AS (SELECT MIN(queue) FROM jobs UNION ALL"
    " SELECT (SELECT MIN(queue) FROM jobs WHERE queue > q.name) FROM q WHERE q.name IS NOT NULL)"
)
# Maintenance reads name their partial index: the planner would otherwise pick jobs_by_state.
_INSERT_SQL = (
    "INSERT INTO jobs (id, task, queue, priority, rank, state, payload, retries, backoff, timeout,"
    " enqueued_at, run_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
_MINUTE_COLUMNS = "minute, queue, task, completed, retried, dead, enqueued"
_ADD_MINUTES_SQL = (
    f"INSERT INTO minutes ({_MINUTE_COLUMNS}) VALUES (?,?,?,?,?,?,?) ON CONFLICT (minute, queue, task)"
    " DO UPDATE SET completed = completed + excluded.completed, retried = retried + excluded.retried,"
    " dead = dead + excluded.dead, enqueued = enqueued + excluded.enqueued"
)
#: A failed run: the new state, and the attempt appended to the log (the oldest one dropped when
#: the log is full; removing path `$[#]`, past the end, removes nothing).
_FAIL_SQL = (
    "UPDATE jobs SET state = :state, run_at = :retry_at, finished_at = :finished_at, error = :error,"
    " traceback = :traceback, token = NULL, lease_until = NULL, failed_attempts = json_remove("
    "json_insert(failed_attempts, '$[#]', json_object('attempt', attempts, 'error', :error,"
    " 'traceback', :traceback, 'worker', worker, 'finished_at', :now)),"
    " CASE WHEN json_array_length(failed_attempts) >= :kept THEN '$[0]' ELSE '$[#]' END)"
    " WHERE id = :id AND token = :token AND state = 'running'"
)
PROMOTE_SQL = (
    f"UPDATE jobs INDEXED BY jobs_due SET state = 'queued', run_at = NULL WHERE {_WAITING} AND run_at <= ?"
)
EXPIRED_SQL = (
    f"SELECT {_CLAIMED_COLUMNS} FROM jobs INDEXED BY jobs_leases WHERE state = 'running' AND lease_until < ?"
    " ORDER BY lease_until LIMIT ?"
)


def parse_path(url: str) -> tuple[str, dict[str, str]]:
    """`sqlite:///rel.db` or `sqlite:////abs.db` -> (path, options)."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or parts.netloc:
        raise ConfigError(f"bad SQLite URL {url!r}: use sqlite:///relative.db or sqlite:////absolute/path.db")
    path = unquote(parts.path[1:])
    if not path or path == ":memory:":
        raise ConfigError(
            f"bad SQLite URL {url!r}: name a database file (workers in other processes share it)"
        )
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(f"bad SQLite URL {url!r}: directory {directory} does not exist")
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return path, options


class SQLiteBackend(FullBackend, TransactionalEnqueue):
    def __init__(self, url: str) -> None:
        self.url = url
        self.path, options = parse_path(url)
        self.poll_interval = float(options.get("poll", 0.005))
        self.busy_timeout_ms = int(float(options.get("timeout", 30.0)) * 1000)
        self.synchronous = options.get("synchronous", "NORMAL").upper()
        if self.synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigError(f"bad SQLite URL {url!r}: synchronous must be NORMAL, FULL, EXTRA or OFF")
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._paused_cache: tuple[int, frozenset[str]] | None = None

    # -- connections and transactions ---------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=0)
            conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        except sqlite3.Error as exc:
            raise BackendError(f"cannot open SQLite database {self.path!r}: {exc}") from None
        if mode.lower() != "wal":
            raise BackendError(f"SQLite database {self.path!r} could not be put in WAL mode")
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise BackendError(f"SQLite database {self.path!r}: {exc}") from None
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise BackendError(f"SQLite database {self.path!r}: {exc}") from None

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise BackendError(f"SQLite database {self.path!r}: {exc}") from None

    def migrate(self) -> None:
        with self._write() as conn:
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                raise BackendError(f"{self.path!r} is not a taskheap SQLite database: {exc}") from None
            for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    # -- producers ----------------------------------------------------------------------
    def enqueue(self, jobs: Sequence[NewJob]) -> None:
        rows, counts = _insert_rows(jobs), _minute_rows(enqueued_rows(jobs))
        with self._write() as conn:
            conn.executemany(_INSERT_SQL, rows)
            conn.executemany(_ADD_MINUTES_SQL, counts)

    def enqueue_in(self, connection: sqlite3.Connection, jobs: Sequence[NewJob]) -> None:
        """Insert with the caller's sqlite3 connection to this same file, inside its open
        transaction: the jobs exist only if the caller commits. Nothing is committed here."""
        files = {row[2] for row in connection.execute("PRAGMA database_list") if row[2]}
        if os.path.realpath(self.path) not in {os.path.realpath(f) for f in files}:
            raise ConfigError(f"that sqlite3 connection is not to this app's database {self.path!r}")
        try:
            connection.executemany(_INSERT_SQL, _insert_rows(jobs))
            connection.executemany(_ADD_MINUTES_SQL, _minute_rows(enqueued_rows(jobs)))
        except sqlite3.Error as exc:
            raise BackendError(f"enqueue in the caller's transaction failed: {exc}") from None

    # -- workers ------------------------------------------------------------------------
    def claim(
        self, queues: Sequence[str], worker: str, limit: int, lease: float, now: float | None = None
    ) -> list[ClaimedJob]:
        now = time.time() if now is None else now
        active = [q for q in queues if q not in self.paused()]
        if not active or limit <= 0 or not self._may_have_work(active, now):
            return []
        with self._write() as conn:
            conn.execute(PROMOTE_SQL, (now,))
            rows = conn.execute(claim_sql(len(active)), (now, now + lease, worker, limit, *active)).fetchall()
        rows.sort()
        return [ClaimedJob(*row[2:]) for row in rows]

    def _may_have_work(self, queues: list[str], now: float) -> bool:
        """A read-only look first, so idle workers never take the write lock."""
        marks = ",".join("?" * len(queues))
        row = self._read(
            f"SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'queued' AND queue IN ({marks}))"
            f" OR EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_due WHERE {_WAITING} AND run_at <= ?"
            f" AND queue IN ({marks}))",
            (*queues, now, *queues),
        )
        return bool(row[0][0])

    def heartbeat(
        self, worker: WorkerInfo, leases: Sequence[Lease], lease: float, now: float | None = None
    ) -> set[str]:
        now = time.time() if now is None else now
        owned = set()
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO workers VALUES (?,?,?,?,?,?,?,?)",
                (
                    worker.id,
                    worker.host,
                    worker.pid,
                    json.dumps(worker.queues),
                    worker.concurrency,
                    worker.started_at,
                    now,
                    json.dumps(worker.jobs),
                ),
            )
            for job_id, token in leases:
                cur = conn.execute(
                    "UPDATE jobs SET lease_until = ? WHERE id = ? AND token = ? AND state = 'running'",
                    (now + lease, job_id, token),
                )
                if cur.rowcount:
                    owned.add(job_id)
        return owned

    def complete(self, done: Sequence[Completion], now: float | None = None) -> list[str]:
        now = time.time() if now is None else now
        accepted = []
        with self._write() as conn:
            for job_id, token, result in done:
                cur = conn.execute(
                    "UPDATE jobs SET state = 'succeeded', result = ?, finished_at = ?, token = NULL,"
                    " lease_until = NULL WHERE id = ? AND token = ? AND state = 'running'",
                    (result, now, job_id, token),
                )
                if cur.rowcount:
                    accepted.append(job_id)
        return accepted

    def fail(self, failures: Sequence[Failure], now: float | None = None) -> list[str]:
        now = time.time() if now is None else now
        accepted = []
        with self._write() as conn:
            for failure in failures:
                cur = conn.execute(_FAIL_SQL, _fail_params(failure, now))
                if cur.rowcount:
                    accepted.append(failure.id)
        return accepted

    def release(self, leases: Sequence[Lease]) -> None:
        with self._write() as conn:
            conn.executemany(
                "UPDATE jobs SET state = 'queued', attempts = attempts - 1, token = NULL,"
                " lease_until = NULL, worker = NULL WHERE id = ? AND token = ? AND state = 'running'",
                leases,
            )

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        conn = self._conn()
        deadline = time.monotonic() + timeout
        active = [q for q in queues if q not in self.paused()]
        # The version first, then a look: a commit before the read shows in the look (say, one
        # between the caller's empty claim and this wait), a commit after it changes the version.
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if active and self._may_have_work(active, time.time()):
            return
        next_due = self._next_due(active)
        if next_due is not None:
            deadline = min(deadline, time.monotonic() + max(next_due - time.time(), 0.0))
        while time.monotonic() < deadline:
            time.sleep(self.poll_interval)
            if conn.execute("PRAGMA data_version").fetchone()[0] != version:
                return

    def _next_due(self, queues: list[str]) -> float | None:
        """When the first scheduled or retrying job of these queues falls due."""
        if not queues:
            return None
        rows = self._read(
            f"SELECT run_at FROM jobs INDEXED BY jobs_due WHERE {_WAITING}"
            f" AND queue IN ({','.join('?' * len(queues))}) ORDER BY run_at LIMIT 1",
            queues,
        )
        return float(rows[0][0]) if rows else None

    def unregister(self, worker: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM workers WHERE id = ?", (worker,))

    # -- maintenance --------------------------------------------------------------------
    def promote_due(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self._write() as conn:
            return conn.execute(PROMOTE_SQL, (now,)).rowcount

    def expired(self, limit: int, now: float | None = None) -> list[ClaimedJob]:
        now = time.time() if now is None else now
        rows = self._read(EXPIRED_SQL, (now, limit))
        return [ClaimedJob(*row) for row in rows]

    def prune(self, finished_before: float, limit: int) -> int:
        with self._write() as conn:
            return conn.execute(
                "DELETE FROM jobs WHERE rowid IN (SELECT rowid FROM jobs INDEXED BY jobs_finished"
                " WHERE state IN ('succeeded', 'cancelled') AND finished_at < ? LIMIT ?)",
                (finished_before, limit),
            ).rowcount

    def forget_workers(self, seen_before: float) -> int:
        with self._write() as conn:
            return conn.execute("DELETE FROM workers WHERE last_seen < ?", (seen_before,)).rowcount

    # -- per-minute counters ------------------------------------------------------------
    def record_minutes(self, rows: Sequence[MinuteCount]) -> None:
        with self._write() as conn:
            conn.executemany(_ADD_MINUTES_SQL, _minute_rows(rows))

    def minutes(self, since: int) -> list[MinuteCount]:
        rows = self._read(
            f"SELECT {_MINUTE_COLUMNS} FROM minutes WHERE minute >= ? ORDER BY minute, queue, task", (since,)
        )
        return [MinuteCount(*row) for row in rows]

    def forget_minutes(self, before: int) -> int:
        with self._write() as conn:
            return conn.execute("DELETE FROM minutes WHERE minute < ?", (before,)).rowcount

    # -- reads and admin writes ---------------------------------------------------------
    def get(self, job_id: str) -> JobRecord | None:
        rows = self._read(f"SELECT {_RECORD_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return _record(rows[0]) if rows else None

    def list_jobs(self, query: JobQuery) -> list[JobRecord]:
        source, params = _matching(query)
        rows = self._read(
            f"SELECT {_RECORD_COLUMNS} FROM {source} ORDER BY id DESC LIMIT ?", (*params, query.limit)
        )
        return [_record(row) for row in rows]

    def count_jobs(self, query: JobQuery) -> int:
        source, params = _matching(query)
        return int(self._read(f"SELECT COUNT(*) FROM {source}", params)[0][0])

    def oldest(self, state: JobState) -> dict[str, float]:
        rows = self._read(
            f"WITH RECURSIVE {_QUEUE_NAMES} SELECT name, (SELECT enqueued_at FROM jobs"
            " WHERE queue = q.name AND state = ? ORDER BY id LIMIT 1) FROM q WHERE name IS NOT NULL",
            (state,),
        )
        return {queue: at for queue, at in rows if at is not None}

    def counts(self) -> Counts:
        """One index range count per (queue, state): no grouping pass over the whole table."""
        counts: Counts = {name: {} for (name,) in self._read("SELECT name FROM queues")}
        states = " UNION ALL ".join(f"SELECT '{state}'" for state in JobState)
        rows = self._read(
            f"WITH RECURSIVE {_QUEUE_NAMES}, s(state) AS ({states}) SELECT q.name, s.state,"
            " (SELECT COUNT(*) FROM jobs WHERE queue = q.name AND state = s.state)"
            " FROM q, s WHERE q.name IS NOT NULL"
        )
        for queue, state, n in rows:
            if n:
                counts.setdefault(queue, {})[state] = n
        return counts

    def queued_by_priority(self) -> dict[str, dict[int, int]]:
        depth: dict[str, dict[int, int]] = {}
        for queue, priority, n in self._read(
            "SELECT queue, priority, COUNT(*) FROM jobs INDEXED BY jobs_queued_priority"
            " WHERE state = 'queued' GROUP BY queue, priority"
        ):
            depth.setdefault(queue, {})[priority] = n
        return depth

    def workers(self) -> list[WorkerInfo]:
        rows = self._read("SELECT * FROM workers ORDER BY started_at")
        return [
            WorkerInfo(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], json.loads(r[7])) for r in rows
        ]

    def replay(self, query: JobQuery, now: float | None = None) -> int:
        source, params = _matching(query)
        with self._write() as conn:
            return conn.execute(
                "UPDATE jobs SET state = 'queued', run_at = NULL, finished_at = NULL,"
                " attempts = CASE state WHEN 'dead' THEN 0 ELSE attempts END,"
                " worker = CASE state WHEN 'dead' THEN NULL ELSE worker END"
                f" WHERE id IN (SELECT id FROM (SELECT id, state FROM {source})"
                " WHERE state IN ('dead', 'retrying') LIMIT ?)",
                (*params, query.limit),
            ).rowcount

    def purge(self, query: JobQuery) -> int:
        source, params = _matching(query)
        with self._write() as conn:
            return conn.execute(
                f"DELETE FROM jobs WHERE id IN (SELECT id FROM {source} LIMIT ?)", (*params, query.limit)
            ).rowcount

    def cancel(self, job_id: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self._write() as conn:
            return bool(
                conn.execute(
                    "UPDATE jobs SET state = 'cancelled', finished_at = ?, run_at = NULL"
                    " WHERE id = ? AND state IN ('queued', 'scheduled', 'retrying')",
                    (now, job_id),
                ).rowcount
            )

    def set_paused(self, queue: str, paused: bool) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO queues (name, paused) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
                (queue, int(paused)),
            )

    def paused(self) -> set[str]:
        return {name for (name,) in self._read("SELECT name FROM queues WHERE paused = 1")}


@lru_cache(maxsize=64)
def claim_sql(queue_count: int) -> str:
    """Claim across queues: each queue's best ?4 from its index, merged, the best ?4 kept.

    Parameters: ?1 now, ?2 lease expiry, ?3 worker, ?4 limit, ?5… the queues.
    """
    per_queue = " UNION ALL ".join(
        f"SELECT * FROM (SELECT rowid AS r, rank, id FROM jobs WHERE queue = ?{5 + n}"
        " AND state = 'queued' ORDER BY rank, id LIMIT ?4)"
        for n in range(queue_count)
    )
    return (
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, token = lower(hex(randomblob(8))),"
        " lease_until = ?2, worker = ?3, started_at = COALESCE(started_at, ?1)"
        f" WHERE rowid IN (SELECT r FROM ({per_queue}) ORDER BY rank, id LIMIT ?4)"
        f" RETURNING rank, id, {_CLAIMED_COLUMNS}"
    )


def _matching(query: JobQuery) -> tuple[str, list[Any]]:
    """A FROM source of the jobs matching `query`; with `text`, only among the `scan` newest
    jobs passing the other filters."""
    where, params = _where(query)
    if query.text is None:
        return f"jobs {where}", params
    scan = -1 if query.scan is None else query.scan  # LIMIT -1: no limit
    return (
        f"(SELECT * FROM jobs {where} ORDER BY id DESC LIMIT ?) WHERE instr(payload, ?) > 0",
        [*params, scan, query.text],
    )


def _insert_rows(jobs: Sequence[NewJob]) -> list[tuple[Any, ...]]:
    return [
        (
            j.id,
            j.task,
            j.queue,
            j.priority,
            j.rank,
            JobState.QUEUED if j.run_at is None else JobState.SCHEDULED,
            j.payload,
            j.retries,
            j.backoff,
            j.timeout,
            j.enqueued_at,
            j.run_at,
        )
        for j in jobs
    ]


def _where(query: JobQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if query.ids is not None:
        clauses.append(f"id IN ({','.join('?' * len(query.ids))})")
        params.extend(query.ids)
    filters = (
        ("queue = ?", query.queue),
        ("state = ?", query.state),
        ("task = ?", query.task),
        ("id < ?", query.before),
        ("id > ?", query.after),
    )
    for clause, value in filters:
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _fail_params(failure: Failure, now: float) -> dict[str, Any]:
    return {
        "id": failure.id,
        "token": failure.token,
        "state": JobState.DEAD if failure.retry_at is None else JobState.RETRYING,
        "retry_at": failure.retry_at,
        "finished_at": now if failure.retry_at is None else None,
        "error": failure.error,
        "traceback": failure.traceback,
        "now": now,
        "kept": FAILED_ATTEMPTS_KEPT,
    }


def _minute_rows(rows: Sequence[MinuteCount]) -> list[tuple[Any, ...]]:
    return [(r.minute, r.queue, r.task, r.completed, r.retried, r.dead, r.enqueued) for r in rows]


def _record(row: Sequence[Any]) -> JobRecord:
    *columns, failed_attempts = row
    record = JobRecord(*columns)
    record.state = JobState(record.state)
    record.failed_attempts = [FailedAttempt(**a) for a in json.loads(failed_attempts)]
    return record
