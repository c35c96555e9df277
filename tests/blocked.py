"""How a test knows an idle wait is blocked, from the store's own signs rather than a sleep.

PostgreSQL: a waiter's listening connection (named `taskheap:<schema>`, like every connection of
the backend, in any process) is idle after running its idle check. Redis: a client blocked in
BLMOVE, of the test's own (its URL names its connections). SQLite shows nothing of a reader
polling `PRAGMA data_version`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast
from urllib.parse import parse_qsl, urlsplit

import psycopg
from redis.cluster import RedisCluster

from taskheap.backends.postgres import PostgresBackend
from taskheap.backends.redis import RedisBackend

LONG_WAIT = 60.0  # the timeout of a wait that work should end: far longer than any wake-up
WOKEN_WITHIN = 10.0  # a wait that ends within this was woken, not timed out (a sixth of LONG_WAIT)

_IDLE_AFTER_ITS_CHECK = (
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND state = 'idle'"
    " AND query LIKE '%%requested (name)%%' AND state_change > %s"  # sql/idle_check.sql
)


def postgres_listeners(backend: PostgresBackend) -> Callable[[], int]:
    """How many listening connections of the backend's schema, in any process, have run their
    idle check since this call and sleep now (until a notification, a due time or a timeout)."""

    def probe(query: str, *params: object) -> object:
        with psycopg.connect(backend.conninfo, autocommit=True, application_name="test-probe") as conn:
            row = conn.execute(query, params).fetchone()
            assert row is not None
            return row[0]

    since = probe("SELECT clock_timestamp()")
    name = f"taskheap:{backend.schema}"
    return lambda: cast(int, probe(_IDLE_AFTER_ITS_CHECK, name, since))


def redis_blockers(backend: RedisBackend) -> Callable[[], int]:
    """How many of the backend's clients are blocked in BLMOVE now. The test URLs name every
    connection after the key prefix (tests/redis_support.py), so other runs' clients on the
    same Redis never count."""
    name = dict(parse_qsl(urlsplit(backend.url).query)).get("client_name")
    assert name == backend.prefix, f"{backend.url}: not a test URL naming its clients"

    def blocked_now() -> int:
        if isinstance(backend.client, RedisCluster):
            replies = backend.client.client_list(target_nodes=RedisCluster.ALL_NODES)
            clients = [
                c for listed in cast(dict[str, list[dict[str, str]]], replies).values() for c in listed
            ]
        else:
            clients = backend.client.client_list()
        return sum(1 for c in clients if c["name"] == name and c["cmd"] == "blmove" and "b" in c["flags"])

    return blocked_now
