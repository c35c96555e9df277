"""Redis-only behaviour of the admin reads: listings that merge many sets over several read
pages, where the per-minute counters live (a queue's hash tag, for Redis Cluster), and a
worker's counts reaching them (written off its claim loop, and in full when it stops)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import taskheap
from taskheap.backends.base import ALL_TIME, Completion, Failure, JobQuery, MinuteCount, NewJob
from taskheap.backends.redis import PAGE, RedisBackend
from taskheap.job import JobState, encode_id
from taskheap.worker import Worker

from ..conftest import URL_FACTORIES, wait_for
from ..redis_support import own_redis, redis_url

JOBS_PER_QUEUE = PAGE + 150


def new_job(ms: int, queue: str) -> NewJob:
    task = "even" if ms % 2 == 0 else "odd"
    payload = json.dumps({"task": task, "args": [ms], "kwargs": {}})
    return NewJob(encode_id(ms, 1), task, queue, 5, 5.0, payload, 1.0, None, 3, None, None)


@pytest.fixture
def spread(backend: RedisBackend) -> list[str]:
    """Jobs in two queues, interleaved by id, a third of each queue succeeded: every set the
    listing merges holds more than one read page of ids. Returns all ids, newest first."""
    for queue in ("a", "b"):
        backend.enqueue([new_job(2 * n + (queue == "b"), queue) for n in range(JOBS_PER_QUEUE)])
        claimed = backend.claim([queue], "w1", JOBS_PER_QUEUE // 3, 30.0)
        backend.complete([Completion(job.id, job.token, "null") for job in claimed])
    return sorted((encode_id(ms, 1) for ms in range(2 * JOBS_PER_QUEUE)), reverse=True)


def test_keyset_pages_over_many_sets_past_a_read_page_list_every_job_once_newest_first(
    backend: RedisBackend, spread: list[str]
) -> None:
    seen: list[str] = []
    before = None
    while page := backend.list_jobs(JobQuery(limit=170, before=before)):
        seen += [job.id for job in page]
        before = seen[-1]
    assert seen == spread


def test_a_task_filter_reads_past_the_first_page_and_counts_every_match(
    backend: RedisBackend, spread: list[str]
) -> None:
    odd = sorted((encode_id(ms, 1) for ms in range(1, 2 * JOBS_PER_QUEUE, 2)), reverse=True)
    assert [job.id for job in backend.list_jobs(JobQuery(task="odd", limit=10_000))] == odd
    assert backend.count_jobs(JobQuery(task="odd")) == JOBS_PER_QUEUE


def test_counts_without_a_task_or_text_come_from_the_sets_within_the_id_bounds(
    backend: RedisBackend, spread: list[str]
) -> None:
    bounds = JobQuery(after=spread[-100], before=spread[99])  # all but the 100 newest and oldest
    assert backend.count_jobs(bounds) == len(spread) - 200
    succeeded = JobQuery(state=JobState.SUCCEEDED)
    assert backend.count_jobs(succeeded) == 2 * (JOBS_PER_QUEUE // 3)


def _migrated(url: str) -> Iterator[RedisBackend]:
    store = RedisBackend(url)
    store.migrate()
    yield store
    store.close()


@pytest.fixture(params=["redis", "redis-cluster"])
def alone(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisBackend]:
    """A migrated backend on a Redis holding no other run's keys, for a test that SCANs: SCAN reads
    the whole keyspace, and the shared Redis may hold millions of keys of other runs (another
    checkout's benchmark), minutes to read. A redis-server of the test's own, or this process's
    own Cluster (whose keys are only this process's tests')."""
    if request.param == "redis-cluster":
        yield from _migrated(URL_FACTORIES["redis-cluster"](tmp_path))
        return
    for server in own_redis(tmp_path):
        yield from _migrated(server.url)


def test_per_minute_counters_live_under_their_queues_hash_tag(alone: RedisBackend) -> None:
    alone.record_minutes([MinuteCount(60, "a", "t", completed=1), MinuteCount(ALL_TIME, "b", "t", dead=2)])
    keys = set(alone.client.scan_iter(match=f"{{{alone.prefix}:*"))
    assert {key.partition("}")[0] for key in keys if "minutes" in key} == {
        f"{{{alone.prefix}:a",
        f"{{{alone.prefix}:b",
    }
    assert alone.minutes(0) == [MinuteCount(60, "a", "t", 1), MinuteCount(ALL_TIME, "b", "t", dead=2)]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[taskheap.App]:
    application = taskheap.App(redis_url(tmp_path), lease=30.0)
    yield application
    application.close()


def completed_in_total(app: taskheap.App) -> int:
    return sum(row.completed for row in app.admin.totals())


def test_a_running_worker_writes_its_counts_within_seconds(app: taskheap.App) -> None:
    echo = app.task(name="echo")(lambda x: x)
    worker = Worker(app, concurrency=2)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        echo.enqueue(1).result(timeout=10)
        wait_for(lambda: completed_in_total(app) == 1, timeout=5, what="the tally to be written")
    finally:
        worker.stop()
        thread.join(10)


def test_a_burst_worker_has_written_every_count_when_it_returns(app: taskheap.App) -> None:
    echo = app.task(name="echo")(lambda x: x)
    app.enqueue_many([echo.job(n) for n in range(50)])
    Worker(app, concurrency=4, burst=True).run()
    assert completed_in_total(app) == 50
    assert sum(minute.completed for minute in app.admin.activity(time.time())) == 50


def test_a_jobs_failed_attempts_are_deleted_with_it_by_purge_and_prune(backend: RedisBackend) -> None:
    backend.enqueue([new_job(ms, "a") for ms in (2, 4)])
    purged, pruned = backend.claim(["a"], "w1", 2, 30.0)
    backend.fail([Failure(purged.id, purged.token, "boom", "Traceback", None)])
    backend.fail([Failure(pruned.id, pruned.token, "boom", None, 0.0)])
    (again,) = backend.claim(["a"], "w1", 1, 30.0)
    backend.complete([Completion(again.id, again.token, "null")])
    logs = [backend.keys.q("a") + f"job:{job.id}:failed" for job in (purged, pruned)]
    assert backend.client.exists(*logs) == 2
    assert backend.purge(JobQuery(state=JobState.DEAD)) == 1
    assert backend.prune(-1.0, 10) == 1  # finished before a second from now
    assert backend.client.exists(*logs) == 0
