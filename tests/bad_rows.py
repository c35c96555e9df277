"""Bad rows written straight into a store with the raw client a person would use (sqlite3,
redis-py, psycopg): what each backend's schema can hold that no producer would write. Shared by
the worker's bad-data test and the fault suite's."""

from __future__ import annotations

import json
import os
import pickle
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql

import taskheap
from taskheap.codec import DEFAULT_MAX_PAYLOAD
from taskheap.job import IdGenerator


class Store(Protocol):
    """Where the rows go: a directory of the test's (for the unpickling marker), the store's URL
    and an App on it (task `add(x, y)` declared where the rows must run)."""

    path: Path
    url: str
    app: taskheap.App


ADD = '{"args":[2,3],"kwargs":{}}'
INVALID_UTF8 = b'{"args":["\xff"]}'
DEEP = '{"args":[' + "[" * 100_000 + "]" * 100_000 + "]}"
OVERSIZED = '{"args":["' + "x" * DEFAULT_MAX_PAYLOAD + '"]}'  # the task module's App keeps the default

IDS = IdGenerator()


class Unpickled:
    """Unpickling it makes a directory: a worker that unpickled a payload would leave one."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return os.mkdir, (self.path,)


@dataclass(frozen=True)
class Raw:
    """A job as a person would write it by hand: the payload as text, or bytes (SQLite: a BLOB,
    or TEXT with `as_text`: CAST(X'...' AS TEXT))."""

    name: str
    payload: str | bytes
    reason: str  # how the dead job's error starts; '' for a job that must succeed
    priority: int | str = 5
    as_text: bool = False
    retries: int = 3
    timeout: float | str | None = None
    backoff: str | None = None


def bad_jobs(lab: Store) -> list[Raw]:
    """What every backend's schema can hold, then what only some can."""
    marker = str(lab.path / "unpickled")
    jobs = [
        Raw("not JSON", "garbage {not json", "malformed payload: not JSON"),
        Raw("a JSON array", "[1,2]", "malformed payload: expected an object"),
        Raw("args not a list", '{"args": 5}', "malformed payload: 'args' must be a list"),
        Raw("nested 100,000 deep", DEEP, "malformed payload: nested too deep"),
        Raw(
            "over max_payload",
            OVERSIZED,
            f"payload too large: {len(OVERSIZED)} bytes, over the {DEFAULT_MAX_PAYLOAD}-byte limit",
        ),
        Raw("priority -5", ADD, "priority out of range: -5", priority=-5),
        Raw("a text pickle", pickle.dumps(Unpickled(marker), 0).decode(), "malformed payload: not JSON"),
    ]
    scheme = store_kind(lab.url)
    if scheme in ("sqlite", "redis"):  # PostgreSQL's integer cannot hold it (asserted below)
        jobs.append(Raw("priority 10**12", ADD, "priority out of range: 1000000000000", priority=10**12))
    if scheme == "redis":
        binary = pickle.dumps(Unpickled(marker)).decode("latin-1")  # its bytes, as characters
        jobs += [
            Raw("a binary pickle", binary, "malformed payload: not JSON"),
            Raw("invalid UTF-8 bytes", INVALID_UTF8, "undecodable payload: not UTF-8"),  # raw in the entry
        ]
    if scheme in ("sqlite", "postgresql"):  # columns Redis's ingest already refuses (lib.lua readable)
        jobs += [
            Raw("retries -1", ADD, "retries not a whole number >= 0: -1", retries=-1),
            Raw("a backoff not JSON", ADD, "malformed backoff 'garbage'", backoff="garbage"),
            Raw("a NaN backoff", ADD, "malformed backoff '[1, 2, NaN, false]'", backoff="[1, 2, NaN, false]"),
        ]
    if scheme == "postgresql":  # float8 holds NaN (SQLite stores it as NULL: no timeout)
        jobs.append(
            Raw("a NaN timeout", ADD, "timeout not a number of seconds > 0: nan", timeout=float("nan"))
        )
    if scheme == "sqlite":
        jobs += [
            Raw("a timeout as text", ADD, "timeout not a number of seconds > 0: 'abc'", timeout="abc"),
            Raw("non-JSON bytes", b"\x00\x01\x02 garbage", "malformed payload: not JSON"),
            Raw("invalid UTF-8 TEXT", INVALID_UTF8, "undecodable payload: not UTF-8", as_text=True),
            Raw("invalid UTF-8 BLOB", INVALID_UTF8, "undecodable payload: not UTF-8"),
            Raw("a binary pickle", pickle.dumps(Unpickled(marker)), "undecodable payload: not UTF-8"),
            Raw("priority as text", ADD, "priority not an integer: 'high'", priority="high"),
            Raw("a JSON BLOB", ADD.encode(), ""),  # valid UTF-8 JSON: runs like text
        ]
    return jobs


def write(lab: Store, jobs: list[Raw]) -> dict[str, Raw]:
    """Write the jobs into the lab's store with its raw client: task `add`, queue `default`,
    rank 5 (among the healthy jobs, in id order); by id."""
    by_id = {IDS.new(): job for job in jobs}
    {"sqlite": _write_sqlite, "redis": _write_redis, "postgresql": _write_postgres}[store_kind(lab.url)](
        lab, by_id
    )
    return by_id


def store_kind(url: str) -> str:
    """The URL's scheme, a Redis Cluster's and a TLS Redis's as "redis": the rows are the same."""
    scheme = urlsplit(url).scheme
    return "redis" if scheme in ("rediss", "redis+cluster") else scheme


def _write_sqlite(lab: Store, jobs: dict[str, Raw]) -> None:
    conn = sqlite3.connect(lab.app.backend.path)  # type: ignore[attr-defined]
    with conn:
        for job_id, job in jobs.items():
            value, params = ("?", [job.payload])
            if job.as_text:
                assert isinstance(job.payload, bytes)
                value, params = f"CAST(X'{job.payload.hex()}' AS TEXT)", []
            conn.execute(
                "INSERT INTO jobs (id, task, queue, priority, rank, state, payload, retries, timeout,"
                f" backoff, enqueued_at) VALUES (?, 'add', 'default', ?, 5.0, 'queued', {value}, ?, ?, ?, ?)",
                [job_id, job.priority, *params, job.retries, job.timeout, job.backoff, time.time()],
            )
    conn.close()


UNREADABLE_ENTRY = b"{not an inbox entry"  # Redis: pushed beside the jobs, read by no one


def _write_redis(lab: Store, jobs: dict[str, Raw]) -> None:
    """Version 1 inbox entries, as a producer pushes them (lua/lib.lua lists the 11 fields); a
    bytes payload goes in as its raw bytes (a byte that is not UTF-8 stays one). And an entry
    that is not JSON at all. On a Cluster the producer also writes each id's queue into the id
    index, which lives on another slot than the queue's (ingest cannot write it): so here."""
    base, query = _split(lab.url, "prefix")
    prefix = query["prefix"]
    now = repr(time.time())
    entries = []
    for i, j in jobs.items():
        payload = "\x00payload\x00" if isinstance(j.payload, bytes) else j.payload
        entry = json.dumps(
            [i, "add", "default", str(j.priority), "5.0", payload, now, "", "3", "", ""]
        ).encode()
        if isinstance(j.payload, bytes):
            raw = j.payload.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
            entry = entry.replace(b'"\\u0000payload\\u0000"', b'"' + raw + b'"')
        entries.append(entry)
    with _raw_redis(base) as client:
        if isinstance(client, redis.RedisCluster):
            client.hset(f"{{{prefix}}}:queue-of", mapping=dict.fromkeys(jobs, "default"))
        client.sadd(f"{{{prefix}}}:queues", "default")
        client.rpush(f"{{{prefix}:default}}:inbox", *entries[:3], UNREADABLE_ENTRY, *entries[3:])


def _raw_redis(url: str) -> redis.Redis | redis.RedisCluster:
    """redis-py's client for the URL: a RedisCluster for `redis+cluster://` (it routes each key to
    the node that holds it)."""
    if urlsplit(url).scheme == "redis+cluster":
        return redis.RedisCluster.from_url(url.replace("redis+cluster://", "redis://", 1))
    return redis.Redis.from_url(url)


def _write_postgres(lab: Store, jobs: dict[str, Raw]) -> None:
    with raw_postgres(lab) as (conn, schema):
        for job_id, job in jobs.items():
            values = [job_id, job.priority, job.payload, job.retries, job.timeout, job.backoff, time.time()]
            conn.execute(insert_row(schema, "%s"), values)


@contextmanager
def raw_postgres(lab: Store) -> Iterator[tuple[psycopg.Connection[Any], str]]:
    """A plain psycopg connection to the lab's server, and the lab's schema."""
    base, query = _split(lab.url, "schema")
    with psycopg.connect(base, autocommit=True) as conn:
        yield conn, query["schema"]


def insert_row(schema: str, payload: str) -> sql.Composed:
    return sql.SQL(
        "INSERT INTO {}.jobs (id, task, queue, priority, rank, state, payload, retries, timeout, backoff,"
        " enqueued_at) VALUES (%s, 'add', 'default', %s, 5.0, 'queued', {}, %s, %s, %s, %s)"
    ).format(sql.Identifier(schema), sql.SQL(payload))


def _split(url: str, key: str) -> tuple[str, dict[str, str]]:
    """The URL without taskheap's own query parameter `key` (and its client name), and the query."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    kept = {k: v for k, v in query.items() if k not in (key, "client_name")}
    return urlunsplit(parts._replace(query=urlencode(kept))), query
