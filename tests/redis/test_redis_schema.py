"""The schema version of a Redis store and its migration: a new store is written at the current
version, an older one is brought up step by step under a lock (safe from many processes at
once), a newer one is refused."""

from __future__ import annotations

import json
import threading

import pytest

from taskheap.backends.base import JobQuery, NewJob
from taskheap.backends.redis import RedisBackend
from taskheap.backends.redis.schema import SCHEMA_VERSION, STEPS
from taskheap.errors import BackendError
from taskheap.job import JobState

LEASE = 30.0


def job(job_id: str, rank: float) -> NewJob:
    return NewJob(job_id, "echo", "default", 5, rank, "{}", 60.0, None, 3, None, None)


def v1_entry(job_id: str, rank: float) -> str:
    """An inbox entry as the release of schema 1 wrote it."""
    return json.dumps([job_id, "echo", "default", "5", repr(rank), "{}", "60.0", "", "3", "", ""])


def schema_1_store(backend: RedisBackend) -> None:
    """What the release of schema 1 left: version "1", job hashes (one running, two queued) and
    entries still in the inbox."""
    backend.enqueue([job("queued-1", 1.0), job("queued-2", 2.0), job("running", 0.0)])
    backend.claim(["default"], "w", 1, LEASE)
    if backend.cluster:  # a schema 1 producer wrote the id index on a Cluster too
        backend.client.hset(backend.keys.index, mapping={"inbox-1": "default", "inbox-2": "default"})
    backend.client.rpush(
        backend.keys.q("default") + "inbox", v1_entry("inbox-1", 1.5), v1_entry("inbox-2", 0.5)
    )
    backend.client.set(backend.keys.version, "1")


def test_the_schema_version_is_one_more_than_the_steps() -> None:
    assert SCHEMA_VERSION == 2 == 1 + len(STEPS)


def test_a_new_store_is_written_at_the_current_version(backend: RedisBackend) -> None:
    assert backend.client.get(backend.keys.version) == str(SCHEMA_VERSION)
    assert not backend.client.exists(backend.keys.migrating)


def test_a_schema_1_store_is_migrated_to_2_and_its_jobs_and_entries_read_and_claim(
    backend: RedisBackend,
) -> None:
    schema_1_store(backend)
    upgraded = RedisBackend(backend.url)
    try:
        upgraded.migrate()
        assert upgraded.client.get(upgraded.keys.version) == "2"
        assert not upgraded.client.exists(upgraded.keys.migrating)
        record = upgraded.get("running")
        assert record is not None and record.state == JobState.RUNNING and record.meta is None
        assert upgraded.count_jobs(JobQuery()) == 5
        claimed = upgraded.claim(["default"], "w", 10, LEASE)
        assert [(c.id, c.meta) for c in claimed] == [
            ("inbox-2", None),
            ("queued-1", None),
            ("inbox-1", None),
            ("queued-2", None),
        ]
        assert upgraded.counts() == {"default": {"running": 5}}
    finally:
        upgraded.close()


def test_migrating_twice_is_a_no_op(backend: RedisBackend) -> None:
    schema_1_store(backend)
    backend.migrate()
    keys = sorted(backend.client.scan_iter(match=f"{{{backend.prefix}*"))
    backend.migrate()
    assert sorted(backend.client.scan_iter(match=f"{{{backend.prefix}*")) == keys
    assert backend.client.get(backend.keys.version) == "2"
    assert backend.count_jobs(JobQuery()) == 5


def test_processes_migrating_at_once_all_succeed(backend: RedisBackend) -> None:
    schema_1_store(backend)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def migrate() -> None:
        own = RedisBackend(backend.url)
        try:
            start.wait()
            own.migrate()
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert backend.client.get(backend.keys.version) == "2"
    assert not backend.client.exists(backend.keys.migrating)
    assert backend.count_jobs(JobQuery()) == 5


def test_a_migrator_waits_for_the_one_holding_the_lock(backend: RedisBackend) -> None:
    schema_1_store(backend)
    backend.client.set(backend.keys.migrating, "another", px=10_000)
    done = threading.Event()
    waiting = threading.Thread(target=lambda: (backend.migrate(), done.set()))
    waiting.start()
    assert not done.wait(0.3)
    assert backend.client.get(backend.keys.version) == "1"
    backend.client.delete(backend.keys.migrating)  # the other one finished
    waiting.join(10)
    assert done.is_set() and backend.client.get(backend.keys.version) == "2"


def test_a_store_of_a_newer_schema_is_refused(backend: RedisBackend) -> None:
    backend.client.set(backend.keys.version, "99")
    with pytest.raises(
        BackendError, match="holds taskheap schema 99, this version reads up to 2: upgrade taskheap"
    ):
        backend.migrate()
    assert backend.client.get(backend.keys.version) == "99"
