"""The PostgreSQL backend's connections: two small pools (durable and fast-commit), the retry of
a statement whose connection was lost, and the deadline every call waits within.

A call is `run(work)`: `work` gets a pooled connection, autocommit. Failures, and what follows:
- the connection was lost (refused, reset, closed by a restarted server): the pools' connections
  are replaced and the call tried again after RETRY_DELAYS; then StoreUnreachable;
- no answer within the URL's `deadline` (default 10 s): the connection is given up (deadlines.py:
  libpq would wait for as long as the peer's kernel keeps the connection, which keepalives and
  `tcp_user_timeout` end only when packets go unacknowledged), the pools' connections replaced,
  and StoreUnreachable at once, not tried again: each try would wait out the deadline again;
- no pooled connection within CONNECT_TIMEOUT: StoreUnreachable at once, with the server's own
  reason when a direct connection attempt gives one;
- any other psycopg error: BackendError naming the server.
Long admin writes (replay, purge) and migrations run without a deadline (`bounded=False`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import BackendError, StoreUnreachable
from .deadlines import Deadlines

log = logging.getLogger("taskheap.postgres")

T = TypeVar("T")
Connection = psycopg.Connection[TupleRow]

RETRY_DELAYS = (0.1, 0.3, 1.0)  # between attempts after a lost connection; then StoreUnreachable
CONNECT_TIMEOUT = 5.0  # seconds to wait for a pooled connection


class Overdue(psycopg.OperationalError):
    """A call's deadline passed: its connection was given up."""


class Connections:
    def __init__(self, conninfo: str, where: str, name: str, pool_size: int, deadline: float) -> None:
        self.conninfo, self.where, self.name = conninfo, where, name
        self.pool_size, self.deadline = pool_size, deadline
        self.deadlines = Deadlines(name)
        self._pools: dict[bool, ConnectionPool[Connection]] = {}  # by fast_commit
        self._lock = threading.Lock()

    def pool(self, fast_commit: bool) -> ConnectionPool[Connection]:
        with self._lock:
            pool = self._pools.get(fast_commit)
            if pool is None:
                self.connect().close()  # fail now with the server's reason, not a pool timeout
                pool = ConnectionPool(
                    self.conninfo,
                    min_size=1,
                    max_size=self.pool_size,
                    kwargs={"autocommit": True, **(self._fast_commit_options() if fast_commit else {})},
                    timeout=CONNECT_TIMEOUT,
                    name=f"{self.name}{':fast' if fast_commit else ''}",
                    open=False,
                )
                pool.open()
                self._pools[fast_commit] = pool
            return pool

    def _fast_commit_options(self) -> dict[str, str]:
        """Session options for the fast-commit pool: the caller's libpq options, plus commits
        that do not wait for their WAL flush (postgres.py's FAST_COMMIT)."""
        options = conninfo_to_dict(self.conninfo).get("options") or ""
        return {"options": f"{options} -c synchronous_commit=off".strip()}

    def connect(self) -> Connection:
        """A connection of its own, outside the pools."""
        return psycopg.connect(self.conninfo, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT))

    def run(self, work: Callable[[Connection], T], fast_commit: bool = False, bounded: bool = True) -> T:
        """Run `work` on a pooled connection (within the deadline if `bounded`); on a fresh one
        again if the connection was lost."""
        for delay in (*RETRY_DELAYS, None):
            try:
                with self.pool(fast_commit).connection() as conn:
                    return self.within_deadline(conn, work) if bounded else work(conn)
            except psycopg.OperationalError as exc:
                self._replace_connections()
                if delay is None or isinstance(exc, Overdue | PoolTimeout):
                    raise StoreUnreachable(self._unreachable(exc)) from None
                log.info("PostgreSQL at %s: %s; retrying in %.1fs", self.where, exc, delay)
                time.sleep(delay)
            except psycopg.Error as exc:
                raise BackendError(f"PostgreSQL at {self.where}: {exc}") from None
        raise AssertionError("unreachable")

    def within_deadline(self, conn: Connection, work: Callable[[Connection], T]) -> T:
        """`work(conn)`, its connection given up if no answer came within the deadline: Overdue."""
        token = self.deadlines.watch(conn.pgconn.socket, self.deadline)
        try:
            return work(conn)
        except psycopg.OperationalError:
            if self.deadlines.done(token):
                raise Overdue(f"no answer within {self.deadline:g}s") from None
            raise
        finally:
            self.deadlines.done(token)

    def _replace_connections(self) -> None:
        """New connections for the pools: one was lost or gave no answer, and its neighbours,
        opened to the same server, may be dead too (checking each could wait out a deadline
        apiece); those in use are replaced when they come back (psycopg_pool's drain)."""
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.drain()

    def _unreachable(self, exc: psycopg.OperationalError) -> str:
        if isinstance(exc, PoolTimeout):
            try:  # the pool only says it timed out: ask the server directly for the reason
                self.connect().close()
            except psycopg.OperationalError as reason:
                exc = reason
        return f"cannot reach PostgreSQL at {self.where}: {exc}"

    def close(self) -> None:
        with self._lock:
            pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()
