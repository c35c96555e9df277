"""The inbox: an enqueue only appends encoded jobs to its queue's inbox list; the scripts that
read or change a queue's structures ingest it first, and admin reads ingest it to the end."""

from __future__ import annotations

import re
from pathlib import Path

from taskheap.backends.base import ALL_TIME, JobQuery, NewJob
from taskheap.backends.redis import RedisBackend
from taskheap.job import JobState

LIB = (Path(__file__).parents[2] / "taskheap/backends/redis_lua/lib.lua").read_text()


def lib_constant(name: str) -> str:
    found = re.search(rf"^local {name} = '?(\d+)'?", LIB, re.MULTILINE)
    assert found, name
    return found.group(1)


INGEST_BATCH = int(lib_constant("INGEST_BATCH"))


def job(job_id: str, rank: float = 5.0, queue: str = "default") -> NewJob:
    return NewJob(job_id, "echo", queue, 5, rank, "{}", 60.0, None, 3, None, None)


def inbox_length(backend: RedisBackend, queue: str = "default") -> int:
    return int(backend.client.llen(backend._q(queue) + "inbox"))


def test_an_enqueue_only_fills_the_inbox_and_a_read_ingests_it_at_once(backend: RedisBackend) -> None:
    backend.enqueue([job("a"), job("b")])
    assert inbox_length(backend) == 2
    assert not backend.client.exists(backend._q("default") + "job:a")
    record = backend.get("b")
    assert record is not None and record.state == JobState.QUEUED
    assert inbox_length(backend) == 0
    assert backend.counts() == {"default": {"queued": 2}}


def test_every_admin_read_sees_an_acknowledged_enqueue(backend: RedisBackend) -> None:
    reads = {
        "counts": lambda: backend.counts()["default"]["queued"],
        "count_jobs": lambda: backend.count_jobs(JobQuery(queue="default")),
        "list_jobs": lambda: len(backend.list_jobs(JobQuery(limit=10))),
        "queued_by_priority": lambda: backend.queued_by_priority()["default"][5],
        "oldest": lambda: len(backend.oldest(JobState.QUEUED)),
        "minutes": lambda: sum(row.enqueued for row in backend.minutes(ALL_TIME)),
    }
    for number, (name, read) in enumerate(reads.items(), 1):
        backend.enqueue([job(f"job-{number}")])
        expected = 1 if name == "oldest" else number
        assert read() == expected, name


def test_a_job_pushed_twice_is_ingested_and_counted_once(backend: RedisBackend) -> None:
    backend.enqueue([job("a")])
    backend.enqueue([job("a")])  # a producer retrying after a lost reply
    assert backend.count_jobs(JobQuery()) == 1
    assert [row.enqueued for row in backend.minutes(ALL_TIME)] == [1]


def test_a_claim_behind_an_inbox_longer_than_one_ingest_batch_takes_the_best_rank(
    backend: RedisBackend,
) -> None:
    backend.enqueue([job(f"job-{i:05d}") for i in range(INGEST_BATCH + 10)])
    backend.enqueue([job("urgent", rank=0.0)])
    assert [claimed.id for claimed in backend.claim(["default"], "w", 1, 30.0)] == ["urgent"]
    assert inbox_length(backend) == 0


def test_a_claim_over_several_queues_ingests_each_first(backend: RedisBackend) -> None:
    backend.enqueue([job("late", rank=9.0, queue="a"), job("early", rank=1.0, queue="b")])
    claimed = backend.claim(["a", "b"], "w", 1, 30.0)
    assert [c.id for c in claimed] == ["early"]
    assert inbox_length(backend, "a") == inbox_length(backend, "b") == 0


def test_lib_lua_all_time_row_is_the_backends() -> None:
    assert lib_constant("ALL_TIME") == str(ALL_TIME)
