"""SQLiteBackend: connections, transactions and the seam methods (the SQL is in `queries`)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from operator import methodcaller
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ...errors import BackendError, ConfigError
from ..base import (
    Cancellation,
    ClaimedJob,
    Completion,
    Expired,
    Failure,
    Lease,
    MinuteCount,
    NewJob,
    Postponement,
    ProgressUpdate,
    WorkerInfo,
)
from ..checks import SelfCheck, clock_checks, sqlite_file_checks, unsilenced
from ..counting import enqueued_rows, has_unique, limited
from ..protocols import FullBackend, TransactionalEnqueue
from . import control
from .admin import AdminOnSQLite
from .clock import READ_ANCHOR_SQL, WRITE_ANCHOR_SQL, StoreClock, boot_id, new_anchor
from .limits import LimitsOnSQLite, claim_rows
from .queries import (
    ADD_MINUTES_SQL,
    BY_TEXT,
    CANCEL_CLAIMED_SQL,
    EXPIRE_DUE_SQL,
    EXPIRED_SQL,
    FAIL_SQL,
    FORGET_DETAILS_SQL,
    INSERT_SQL,
    MINUTE_COLUMNS,
    POSTPONE_SQL,
    PROMOTE_SQL,
    REGISTER_DETAILS_SQL,
    REGISTER_SQL,
    WAITING,
    as_stored,
    cancel_params,
    fail_params,
    insert_rows,
    minute_rows,
    postpone_params,
    worker_rows,
)
from .schema import MIGRATIONS
from .unique import PRUNE_WINDOWS_SQL, enqueue_keyed, refuse_if_full

#: How every connection reads TEXT: bytes that are not UTF-8 (a row written by hand) become lone
#: surrogates, so a read never fails on them; decoding a payload above the seam refuses them
#: (codec.decode_payload). A C callable, no Python frame per value: about 0.1 µs a value more
#: than the default (a claimed job's row holds six TEXT values).
_LENIENT_TEXT = methodcaller("decode", "utf-8", "surrogateescape")


def _enqueue_limited_in(
    connection: sqlite3.Connection,
    jobs: Sequence[NewJob],
    limits: Mapping[str, int] | None,
    shift: float,
) -> dict[str, str]:
    """Into limited queues or with unique keys in the caller's transaction: the insert first, in
    a savepoint, so it takes the write lock (held until the caller's transaction ends, as any write's) and the
    count after it is exact; a queue without room rolls the savepoint back, leaving the
    caller's transaction as it was. A connection outside a transaction gets one of its own:
    left open for the caller to commit, or committed here in autocommit mode."""
    own = not connection.in_transaction
    connection.execute("BEGIN IMMEDIATE" if own else "SAVEPOINT taskheap_enqueue")
    try:
        duplicates = enqueue_keyed(connection, jobs, limits, shift)
    except BaseException:
        connection.execute("ROLLBACK" if own else "ROLLBACK TO taskheap_enqueue")
        if not own:
            connection.execute("RELEASE taskheap_enqueue")
        raise
    if not own:
        connection.execute("RELEASE taskheap_enqueue")
    elif connection.isolation_level is None or getattr(connection, "autocommit", None) is True:
        connection.execute("COMMIT")
    return duplicates


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


LOCK_TRY_MS = 2  # how long SQLite itself waits for a lock before _until_not_busy tries again
_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class _Held:
    """One thread's connection, and the lock every use of it holds: `close`, from any thread,
    takes it before closing, so it never frees a connection under a statement in flight."""

    __slots__ = ("conn", "lock")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.lock = threading.RLock()


class SQLiteBackend(AdminOnSQLite, LimitsOnSQLite, FullBackend, TransactionalEnqueue):
    def __init__(self, url: str) -> None:
        self.url = url
        self.path, options = parse_path(url)
        self.poll_interval = float(options.get("poll", 0.005))
        self.busy_timeout_ms = int(float(options.get("timeout", 30.0)) * 1000)
        self.synchronous = options.get("synchronous", "NORMAL").upper()
        if self.synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigError(f"bad SQLite URL {url!r}: synchronous must be NORMAL, FULL, EXTRA or OFF")
        self._local = threading.local()
        self._all: list[_Held] = []
        self._lock = threading.Lock()
        self._clock: StoreClock | None = None
        self._clock_lock = threading.Lock()

    # -- connections and transactions ---------------------------------------------------
    def _conn(self) -> _Held:
        held: _Held | None = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = _Held(self._connect())
            with self._lock:
                self._all.append(held)
        return held

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=0)
            conn.text_factory = _LENIENT_TEXT
            conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute(f"PRAGMA busy_timeout = {LOCK_TRY_MS}")  # writes wait in _until_not_busy
        except sqlite3.Error as exc:
            raise BackendError(f"cannot open SQLite database {self.path!r}: {exc}") from None
        if mode.lower() != "wal":
            raise BackendError(f"SQLite database {self.path!r} could not be put in WAL mode")
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; any sqlite3.Error in it is rolled back and raised as a
        BackendError naming the database, as reads are."""
        held = self._conn()
        with held.lock:
            conn = held.conn
            self._until_not_busy(conn, "BEGIN IMMEDIATE")
            try:
                yield conn
            except sqlite3.Error as exc:
                _rollback(conn)
                raise self._error(exc) from None
            except BaseException:
                _rollback(conn)
                raise
            try:
                self._until_not_busy(conn, "COMMIT")
            except BackendError:
                _rollback(conn)
                raise

    def _until_not_busy(self, conn: sqlite3.Connection, statement: str) -> None:
        """Run `statement`, trying again every LOCK_TRY_MS while the database is locked, until
        the URL's timeout. SQLite's own wait backs off to 100 ms naps, so under steady contention
        a waiting writer kept losing the lock to busier ones (a worker of three, starved of
        every job of a queue, seen on a loaded machine): here every waiter tries as often."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                conn.execute(statement)
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF not in _BUSY or time.monotonic() >= deadline:
                    raise self._error(exc) from None
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    def _error(self, exc: sqlite3.Error) -> BackendError:
        return BackendError(f"SQLite database {self.path!r}: {exc}")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        held = self._conn()
        try:
            with held.lock:
                return held.conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def migrate(self) -> None:
        with self._write() as conn:
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                raise BackendError(f"{self.path!r} is not a taskheap SQLite database: {exc}") from None
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
            # Anchored here, before any caller's transaction could hold the write lock the
            # anchoring of a new boot needs.
            self._clock = StoreClock(_anchored(conn))

    # -- the store's clock (clock.py) ----------------------------------------------------
    def _now(self, now: float | None) -> float:
        return self.store_clock().now() if now is None else now

    def store_clock(self) -> StoreClock:
        """The clock `now=None` means, anchored once per boot of the host (by `migrate`, or by
        the first use of a backend that was not migrated), in a write transaction, so every
        process on the file reads the same anchor."""
        if self._clock is None:
            with self._clock_lock:
                if self._clock is None:
                    with self._write() as conn:
                        self._clock = StoreClock(_anchored(conn))
        return self._clock

    def _onto_store_clock(self, now: float | None) -> float:
        """What to add to new jobs' times (enqueued_at, run_at): read off this process's
        wall clock (`now` None), they move onto the store's, so a delay counts from the store's
        time however far this clock is off it; an explicit clock's are taken as they are."""
        return self.store_clock().now() - time.time() if now is None else 0.0

    def self_checks(self) -> list[SelfCheck]:
        """On a network filesystem; in a directory every user can write; this process's clock
        stepped off the store's."""
        return unsilenced([*sqlite_file_checks(self.path), *clock_checks(self.store_clock().skew())])

    def close(self) -> None:
        """Close every thread's connection, each once its statement in flight is done (closing
        one under a running statement would crash the process); a thread using the backend
        afterwards opens a new one."""
        with self._lock:
            held, self._all = self._all, []
        self._local = threading.local()
        for connection in held:
            with connection.lock:
                connection.conn.close()

    # -- producers ----------------------------------------------------------------------
    def enqueue(
        self, jobs: Sequence[NewJob], limits: Mapping[str, int] | None = None, now: float | None = None
    ) -> dict[str, str]:
        """A limited queue's waiting jobs are counted inside the IMMEDIATE transaction of the
        insert (the one writer at a time), so the count and the insert are one step; so are a
        unique key's check and its insert (unique.py)."""
        if has_unique(jobs):
            shift = self._onto_store_clock(now)
            with self._write() as conn:
                return enqueue_keyed(conn, jobs, limits, shift)
        rows, counts = insert_rows(jobs, self._onto_store_clock(now)), minute_rows(enqueued_rows(jobs))
        room = limited(jobs, limits) if limits else None
        with self._write() as conn:
            if room:
                refuse_if_full(conn, room, inserted=False)
            conn.executemany(INSERT_SQL, rows)
            conn.executemany(ADD_MINUTES_SQL, counts)
        return {}

    def enqueue_in(
        self,
        connection: sqlite3.Connection,
        jobs: Sequence[NewJob],
        limits: Mapping[str, int] | None = None,
        now: float | None = None,
    ) -> dict[str, str]:
        """Insert with the caller's sqlite3 connection to this same file, inside its open
        transaction: the jobs exist only if the caller commits. Nothing is committed here (on
        a connection in autocommit mode outside a transaction, the insert commits at once, like
        `enqueue`)."""
        files = {row[2] for row in connection.execute("PRAGMA database_list") if row[2]}
        if os.path.realpath(self.path) not in {os.path.realpath(f) for f in files}:
            raise ConfigError(f"that sqlite3 connection is not to this app's database {self.path!r}")
        room, shift = (limited(jobs, limits) if limits else None), self._onto_store_clock(now)
        try:
            if room or has_unique(jobs):
                return _enqueue_limited_in(connection, jobs, limits, shift)
            connection.executemany(INSERT_SQL, insert_rows(jobs, shift))
            connection.executemany(ADD_MINUTES_SQL, minute_rows(enqueued_rows(jobs)))
            return {}
        except sqlite3.Error as exc:
            raise BackendError(f"enqueue in the caller's transaction failed: {exc}") from None

    # -- workers ------------------------------------------------------------------------
    def claim(
        self, queues: Sequence[str], worker: str, limit: int, lease: float, now: float | None = None
    ) -> list[ClaimedJob]:
        now = self._now(now)
        active = [q for q in queues if q not in self.paused()]
        if not active or limit <= 0 or not self._may_have_work(active, now):
            return []
        with self._write() as conn:
            conn.execute(PROMOTE_SQL, (now,))
            rows = claim_rows(conn, active, worker, limit, lease, now)
        rows.sort()
        return [ClaimedJob(*row[2:]) for row in rows]

    def _may_have_work(self, queues: list[str], now: float) -> bool:
        """A read-only look first, so idle workers never take the write lock."""
        marks = ",".join("?" * len(queues))
        row = self._read(
            f"SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'queued' AND queue IN ({marks}))"
            f" OR EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_due WHERE {WAITING} AND run_at <= ?"
            f" AND queue IN ({marks}))",
            (*queues, now, *queues),
        )
        return bool(row[0][0])

    def heartbeat(
        self, worker: WorkerInfo, leases: Sequence[Lease], lease: float, now: float | None = None
    ) -> set[str]:
        now = self._now(now)
        owned = set()
        first, details = worker_rows(worker, now)
        with self._write() as conn:
            conn.execute(REGISTER_SQL, first)
            conn.execute(REGISTER_DETAILS_SQL, details)
            for job_id, token in leases:
                cur = conn.execute(
                    f"UPDATE jobs SET lease_until = ? WHERE id = {BY_TEXT} AND token = ?"
                    " AND state = 'running'",
                    (now + lease, as_stored(job_id), token),
                )
                if cur.rowcount:
                    owned.add(job_id)
        return owned

    def complete(self, done: Sequence[Completion], now: float | None = None) -> list[str]:
        now = self._now(now)
        return self._accepted(
            "UPDATE jobs SET state = 'succeeded', result = ?, finished_at = ?, token = NULL,"
            f" lease_until = NULL WHERE id = {BY_TEXT} AND token = ? AND state = 'running'",
            [(job_id, (result, now, as_stored(job_id), token)) for job_id, token, result in done],
        )

    def fail(self, failures: Sequence[Failure], now: float | None = None) -> list[str]:
        now = self._now(now)
        return self._accepted(FAIL_SQL, [(f.id, fail_params(f, now)) for f in failures])

    def postpone(self, items: Sequence[Postponement], now: float | None = None) -> list[str]:
        now = self._now(now)
        return self._accepted(POSTPONE_SQL, [(item.id, postpone_params(item, now)) for item in items])

    def cancel_claimed(self, items: Sequence[Cancellation], now: float | None = None) -> list[str]:
        now = self._now(now)
        return self._accepted(CANCEL_CLAIMED_SQL, [(c.id, cancel_params(c, now)) for c in items])

    def _accepted(self, statement: str, batch: Sequence[tuple[str, Any]]) -> list[str]:
        """Run `statement` once per (id, parameters) of `batch` in one transaction; the ids of
        the runs that changed their job (a stale token changes nothing)."""
        with self._write() as conn:
            return [job_id for job_id, params in batch if conn.execute(statement, params).rowcount]

    def release(self, leases: Sequence[Lease]) -> None:
        with self._write() as conn:
            conn.executemany(
                "UPDATE jobs SET state = 'queued', attempts = attempts - 1, token = NULL,"
                f" lease_until = NULL, worker = NULL WHERE id = {BY_TEXT} AND token = ?"
                " AND state = 'running'",
                [(as_stored(job_id), token) for job_id, token in leases],
            )

    def wait_for_work(self, queues: Sequence[str], timeout: float, now: float | None = None) -> None:
        now = self._now(now)
        held = self._conn()
        deadline = time.monotonic() + timeout
        active = [q for q in queues if q not in self.paused()]
        # The version first, then a look: a commit before the read shows in the look (say, one
        # between the caller's empty claim and this wait), a commit after it changes the version.
        version = self._data_version(held)
        if active and self._may_have_work(active, now):
            return
        next_due = self._next_due(active)
        if next_due is not None:
            deadline = min(deadline, time.monotonic() + max(next_due - now, 0.0))
        while time.monotonic() < deadline:
            time.sleep(self.poll_interval)
            if self._data_version(held) != version:
                return

    def _data_version(self, held: _Held) -> int:
        """Changes when another connection commits to the file."""
        try:
            with held.lock:
                return int(held.conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def _next_due(self, queues: list[str]) -> float | None:
        """When the first scheduled or retrying job of these queues falls due."""
        if not queues:
            return None
        rows = self._read(
            f"SELECT run_at FROM jobs INDEXED BY jobs_due WHERE {WAITING}"
            f" AND queue IN ({','.join('?' * len(queues))}) ORDER BY run_at LIMIT 1",
            queues,
        )
        return float(rows[0][0]) if rows else None

    def unregister(self, worker: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM workers WHERE id = ?", (worker,))
            conn.execute("DELETE FROM worker_details WHERE id = ?", (worker,))

    # -- maintenance --------------------------------------------------------------------
    def promote_due(self, now: float | None = None) -> int:
        now = self._now(now)
        with self._write() as conn:
            return conn.execute(PROMOTE_SQL, (now,)).rowcount

    def expired(self, limit: int, now: float | None = None) -> list[ClaimedJob]:
        now = self._now(now)
        rows = self._read(EXPIRED_SQL, (now, limit))
        return [ClaimedJob(*row) for row in rows]

    def expire_due(self, limit: int, now: float | None = None) -> list[Expired]:
        now = self._now(now)
        with self._write() as conn:
            return [Expired(*row) for row in conn.execute(EXPIRE_DUE_SQL, (now, limit)).fetchall()]

    def prune(self, retention: float, limit: int, now: float | None = None) -> int:
        at = self._now(now)
        with self._write() as conn:
            conn.execute(PRUNE_WINDOWS_SQL, (at, limit))
            return conn.execute(
                "DELETE FROM jobs WHERE rowid IN (SELECT rowid FROM jobs INDEXED BY jobs_finished"
                " WHERE state IN ('succeeded', 'cancelled') AND finished_at < ? LIMIT ?)",
                (at - retention, limit),
            ).rowcount

    def forget_workers(self, silence: float, now: float | None = None) -> int:
        seen_before = self._now(now) - silence
        with self._write() as conn:
            forgotten = conn.execute("DELETE FROM workers WHERE last_seen < ?", (seen_before,)).rowcount
            conn.execute(FORGET_DETAILS_SQL)  # those forgotten here, and by an earlier version
            return forgotten

    # -- per-minute counters ------------------------------------------------------------
    def record_minutes(self, rows: Sequence[MinuteCount]) -> None:
        with self._write() as conn:
            conn.executemany(ADD_MINUTES_SQL, minute_rows(rows))

    def minutes(self, since: int) -> list[MinuteCount]:
        rows = self._read(
            f"SELECT {MINUTE_COLUMNS} FROM minutes WHERE minute >= ? ORDER BY minute, queue, task", (since,)
        )
        return [MinuteCount(*row) for row in rows]

    def forget_minutes(self, before: int) -> int:
        with self._write() as conn:
            return conn.execute("DELETE FROM minutes WHERE minute < ?", (before,)).rowcount

    # -- cancel and progress (control.py) ------------------------------------------
    def cancel(self, job_id: str, now: float | None = None) -> bool:
        now = self._now(now)
        with self._write() as conn:
            return control.cancel(conn, job_id, now)

    def cancel_requests(self, ids: Sequence[str]) -> set[str]:
        return control.requested(self._read, ids)

    def record_progress(self, updates: Sequence[ProgressUpdate], now: float | None = None) -> list[str]:
        return self._accepted(control.PROGRESS_SQL, control.progress_rows(updates, self._now(now)))


def _anchored(conn: sqlite3.Connection) -> float | None:
    """The store's clock offset for this boot (clock.py), written first if the store has not
    seen this boot; None where boots cannot be told apart. `conn` holds the write lock."""
    boot = boot_id()
    if boot is None:
        return None
    row = conn.execute(READ_ANCHOR_SQL).fetchone()
    if row and row[0] == boot:
        return float(row[1])
    offset, anchored_at = new_anchor(row)
    conn.execute(WRITE_ANCHOR_SQL, (boot, offset, anchored_at))
    return offset


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if any is left (SQLite ends some on its own after an
    error, and then ROLLBACK itself fails: the error that ended it is the one to raise)."""
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
