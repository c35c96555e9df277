"""A limited queue's enqueue on Redis is a script (lua/enqueue.lua) that ingests the inbox, counts
the waiting jobs and pushes only if they fit: wake-up markers on the inbox never count as jobs,
entries not yet ingested do, a backlog longer than one ingest is counted whole, a queue without
a limit keeps its bare RPUSH, and on a Cluster a refused job leaves no id index entry."""

from __future__ import annotations

import pytest

import taskheap
from taskheap.backends.base import NewJob
from taskheap.backends.redis import RedisBackend

from .test_redis_inbox import INGEST_BATCH, inbox_length, job

DEFAULT = "default"


def jobs(prefix: str, n: int, queue: str = DEFAULT) -> list[NewJob]:
    return [job(f"{prefix}{i:06d}", queue=queue) for i in range(n)]


def test_wake_up_markers_on_the_inbox_never_count_as_waiting_jobs(backend: RedisBackend) -> None:
    backend.client.rpush(backend.keys.q(DEFAULT) + "inbox", *[""] * 100)
    backend.enqueue(jobs("a", 5), {DEFAULT: 5})
    with pytest.raises(taskheap.QueueFull, match="5 jobs wait"):
        backend.enqueue(jobs("b", 1), {DEFAULT: 5})


def test_entries_not_yet_ingested_count(backend: RedisBackend) -> None:
    backend.enqueue(jobs("a", 3))  # bare pushes, still in the inbox
    assert inbox_length(backend) == 3
    with pytest.raises(taskheap.QueueFull, match="3 jobs wait"):
        backend.enqueue(jobs("b", 1), {DEFAULT: 3})
    assert backend.counts() == {DEFAULT: {"queued": 3}}


def test_a_backlog_longer_than_one_ingest_is_counted_whole(backend: RedisBackend) -> None:
    backlog = INGEST_BATCH + 10
    for start in range(0, backlog, 5000):
        backend.enqueue(jobs(f"a{start}-", min(5000, backlog - start)))
    backend.enqueue(jobs("b", 10), {DEFAULT: backlog + 10})
    with pytest.raises(taskheap.QueueFull, match=f"{backlog + 10} jobs wait"):
        backend.enqueue(jobs("c", 1), {DEFAULT: backlog + 10})


def test_a_queue_without_a_limit_keeps_the_bare_push(backend: RedisBackend) -> None:
    backend.enqueue(jobs("a", 2, queue="free"), {DEFAULT: 1})
    assert inbox_length(backend, "free") == 2  # pushed, not ingested: no script ran on it
    backend.enqueue(jobs("b", 1), {DEFAULT: 1})
    assert inbox_length(backend) == 1  # the script pushes the new entries for ingest later


def test_a_refused_job_leaves_no_id_index_entry(backend: RedisBackend) -> None:
    backend.enqueue(jobs("a", 1), {DEFAULT: 1})
    with pytest.raises(taskheap.QueueFull):
        backend.enqueue(jobs("b", 1), {DEFAULT: 1})
    assert backend.get("b000000") is None
    assert not backend.client.hexists(backend.keys.index, "b000000")
