"""PostgreSQL for the tests: a fresh schema per test on the server TASKHEAP_POSTGRES_URL names.

Each URL gets its own `th_test_<hex>` schema; this process drops the schemas it created when it
exits, and the first call sweeps schemas that earlier, crashed runs left behind for an hour.
"""

from __future__ import annotations

import atexit
import os
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
SCHEMA_PREFIX = "th_test_"
STALE_AFTER = "1 hour"


def server_url() -> str:
    return os.environ.get("TASKHEAP_POSTGRES_URL", DEFAULT_URL)


def postgres_url(tmp_path: Path) -> str:
    """A URL on a schema of its own; skips (fails under CI=true) if the server is unreachable."""
    url = server_url()
    problem = _unreachable(url)
    if problem:
        from tests.conftest import unavailable  # here: conftest imports this module

        unavailable(problem)
    schema = f"{SCHEMA_PREFIX}{uuid.uuid4().hex[:12]}"
    _created(url).append(schema)
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}schema={schema}"


@cache
def _unreachable(url: str) -> str | None:
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            _sweep_stale(conn)
    except psycopg.OperationalError as exc:
        return f"PostgreSQL at {url} is unreachable (set TASKHEAP_POSTGRES_URL): {exc}"
    return None


@cache
def _created(url: str) -> list[str]:
    """The schemas this process made on the server; dropped when it exits."""
    schemas: list[str] = []
    atexit.register(_drop, url, schemas)
    return schemas


def _sweep_stale(conn: psycopg.Connection[Any]) -> None:
    rows = conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s"
        " AND NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'taskheap:' || nspname)",
        [SCHEMA_PREFIX + "%"],
    ).fetchall()
    stale = [name for (name,) in rows if _older_than(conn, name, STALE_AFTER)]
    _drop_schemas(conn, stale)


def _older_than(conn: psycopg.Connection[Any], schema: str, age: str) -> bool:
    try:
        row = conn.execute(
            sql.SQL("SELECT max(applied_at) < now() - %s::interval FROM {}.migrations").format(
                sql.Identifier(schema)
            ),
            [age],
        ).fetchone()
    except psycopg.errors.UndefinedTable:
        return True
    return bool(row and row[0])


def _drop(url: str, schemas: list[str]) -> None:
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            _drop_schemas(conn, schemas)
    except psycopg.Error:
        pass  # the next run's sweep removes what is left


def _drop_schemas(conn: psycopg.Connection[Any], schemas: list[str]) -> None:
    conn.execute("SET lock_timeout = '5s'")
    for schema in schemas:
        try:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        except psycopg.Error:
            continue  # still in use: the next run's sweep removes it
