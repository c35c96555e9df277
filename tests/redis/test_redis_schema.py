"""The schema version of a Redis store and its migration: a new store is written at the current
version, an older one is brought up step by step under a lock (safe from many processes at
once), a newer one is refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence

import pytest

from taskheap.backends.base import JobQuery, NewJob, Postponement, WorkerInfo
from taskheap.backends.redis import RedisBackend
from taskheap.backends.redis.client import Client
from taskheap.backends.redis.keys import Keys
from taskheap.backends.redis.schema import SCHEMA_VERSION, STEPS, migrate
from taskheap.errors import BackendError
from taskheap.job import JobState

LEASE = 30.0


def job(job_id: str, rank: float) -> NewJob:
    return NewJob(job_id, "echo", "default", 5, rank, "{}", 60.0, None, 3, None, None)


def v1_entry(job_id: str, rank: float) -> str:
    """An inbox entry as the release of schema 1 wrote it."""
    return json.dumps([job_id, "echo", "default", "5", repr(rank), "{}", "60.0", "", "3", "", ""])


def schema_1_store(backend: RedisBackend) -> None:
    """What the previous release left: version "1" (a string, as its SETNX wrote it), job hashes
    (one running, two queued) and version 1 entries still in the inbox."""
    backend.enqueue([job("queued-1", 1.0), job("queued-2", 2.0), job("running", 0.0)])
    backend.claim(["default"], "w", 1, LEASE)
    if backend.cluster:  # a schema 1 producer wrote the id index on a Cluster too
        backend.client.hset(backend.keys.index, mapping={"inbox-1": "default", "inbox-2": "default"})
    backend.client.rpush(
        backend.keys.q("default") + "inbox", v1_entry("inbox-1", 1.5), v1_entry("inbox-2", 0.5)
    )
    backend.client.set(backend.keys.version, "1")


class Steps:
    """Two real steps for the mechanism's tests (the schema has none yet): each marks every job
    of the default queue and counts its runs; the first takes a while, so migrators overlap."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self._lock = threading.Lock()

    def first(self, client: Client, keys: Keys) -> None:
        with self._lock:
            self.ran.append("first")
        threading.Event().wait(0.2)  # a long rewrite: other migrators arrive meanwhile
        self._mark(client, keys, "first")

    def second(self, client: Client, keys: Keys) -> None:
        with self._lock:
            self.ran.append("second")
        self._mark(client, keys, "second")

    @staticmethod
    def _mark(client: Client, keys: Keys, name: str) -> None:
        for state in ("queued", "running"):
            for job_id in client.zrange(keys.state_set("default", JobState(state)), 0, -1):
                client.hset(keys.q("default") + f"job:{job_id}", name, "1")

    def all(self) -> tuple[Callable[[Client, Keys], None], ...]:
        return (self.first, self.second)


def run_migrate(backend: RedisBackend, steps: Sequence[Callable[[Client, Keys], None]]) -> None:
    migrate(backend.client, backend.keys, "the test store", steps)


def test_the_schema_has_no_steps_yet_so_it_is_version_1() -> None:
    """Wire version 2 needed none (docs in schema.py): a release adding a step says so here."""
    assert (SCHEMA_VERSION, STEPS) == (1, ())


def test_a_new_store_is_written_at_the_current_version(backend: RedisBackend) -> None:
    assert backend.client.get(backend.keys.version) == str(SCHEMA_VERSION)
    assert not backend.client.exists(backend.keys.migrating)


def test_a_store_of_the_previous_release_reads_and_claims_as_before(backend: RedisBackend) -> None:
    schema_1_store(backend)
    reopened = RedisBackend(backend.url)
    try:
        reopened.migrate()
        assert reopened.client.get(reopened.keys.version) == "1"
        record = reopened.get("running")
        assert record is not None and record.state == JobState.RUNNING and record.meta is None
        assert reopened.count_jobs(JobQuery()) == 5
        claimed = reopened.claim(["default"], "w", 10, LEASE)
        assert [c.id for c in claimed] == ["inbox-2", "queued-1", "inbox-1", "queued-2"]
        assert reopened.counts() == {"default": {"running": 5}}
    finally:
        reopened.close()


#: A worker as the registry of the previous release held it: its JSON, which readers of that
#: release take whole (a field they do not know fails their read), and no details.
EARLIER_WORKER = {
    "id": "old",
    "host": "h",
    "pid": 1,
    "queues": ["default"],
    "concurrency": 2,
    "started_at": 5.0,
}


def test_a_registry_and_jobs_of_the_previous_release_read_postpone_and_stay_readable_to_it(
    backend: RedisBackend,
) -> None:
    """Postponing and the new worker fields needed no step: the job hash gains `unknown_since`,
    the registry a details hash beside the first JSON, which stays what the previous release
    reads."""
    schema_1_store(backend)
    backend.client.hset(backend.keys.workers, "old", json.dumps({**EARLIER_WORKER, "jobs": ["running"]}))
    backend.client.zadd(backend.keys.seen, {"old": 100.0})
    backend.migrate()
    (old,) = backend.workers()
    assert (old.jobs, old.last_seen, old.tasks, old.lease, old.processed) == (["running"], 100.0, [], 30.0, 0)
    token = backend.client.hget(backend.keys.q("default") + "job:running", "token")
    assert backend.postpone([Postponement("running", token, 5.0, unknown_task=True)], now=200.0) == [
        "running"
    ]
    record = backend.get("running")
    assert record is not None and record.state == JobState.SCHEDULED and record.unknown_since == 200.0
    new = WorkerInfo("new", "h", 2, ["default"], 4, 6.0, tasks=["echo"], processed=9)
    backend.heartbeat(new, [], LEASE, now=200.0)
    first = json.loads(backend.client.hget(backend.keys.workers, "new"))
    assert first.keys() == {*EARLIER_WORKER, "jobs"}, "what a reader of the previous release takes"
    assert {w.id: (w.tasks, w.processed) for w in backend.workers()} == {"old": ([], 0), "new": (["echo"], 9)}
    later = {"tasks": ["echo"], "lease": 30.0, "processed": 1, "per_minute": 1, "field_of_a_later_release": 1}
    backend.client.hset(backend.keys.worker_details, "new", json.dumps(later))
    assert [w.processed for w in backend.workers() if w.id == "new"] == [1], (
        "what it does not know is left out"
    )
    backend.client.hdel(backend.keys.workers, "new")  # forgotten by a worker of the previous release
    backend.client.zrem(backend.keys.seen, "new")
    assert backend.forget_workers(1000.0, now=200.0) == 0
    assert not backend.client.hexists(backend.keys.worker_details, "new"), "its details go at the next forget"


def test_an_older_store_is_brought_up_step_by_step_and_once(backend: RedisBackend) -> None:
    schema_1_store(backend)
    steps = Steps()
    run_migrate(backend, steps.all())
    assert steps.ran == ["first", "second"]
    assert backend.client.get(backend.keys.version) == "3"
    job = backend.client.hgetall(backend.keys.q("default") + "job:queued-1")
    assert job["first"] == job["second"] == "1"
    run_migrate(backend, steps.all())
    assert steps.ran == ["first", "second"], "a store at the current version runs no step"


def test_a_store_part_way_up_runs_only_the_steps_it_lacks(backend: RedisBackend) -> None:
    schema_1_store(backend)
    backend.client.set(backend.keys.version, "2")
    steps = Steps()
    run_migrate(backend, steps.all())
    assert steps.ran == ["second"] and backend.client.get(backend.keys.version) == "3"


def test_processes_migrating_at_once_run_each_step_once(backend: RedisBackend) -> None:
    schema_1_store(backend)
    steps = Steps()
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def migrate_own() -> None:
        own = RedisBackend(backend.url)
        try:
            start.wait()
            run_migrate(own, steps.all())
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=migrate_own) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert steps.ran == ["first", "second"], "the lock lets one migrator run the steps"
    assert backend.client.get(backend.keys.version) == "3"
    assert not backend.client.exists(backend.keys.migrating)


def test_a_migrator_waits_for_the_one_holding_the_lock(backend: RedisBackend) -> None:
    schema_1_store(backend)
    backend.client.set(backend.keys.migrating, "another", px=10_000)
    steps = Steps()
    done = threading.Event()
    waiting = threading.Thread(target=lambda: (run_migrate(backend, steps.all()), done.set()))
    waiting.start()
    assert not done.wait(0.3)
    assert steps.ran == [] and backend.client.get(backend.keys.version) == "1"
    backend.client.delete(backend.keys.migrating)  # the other one finished
    waiting.join(10)
    assert done.is_set() and backend.client.get(backend.keys.version) == "3"


def test_a_store_of_a_newer_schema_is_refused(backend: RedisBackend) -> None:
    backend.client.set(backend.keys.version, "99")
    with pytest.raises(
        BackendError, match="holds taskheap schema 99, this version reads up to 1: upgrade taskheap"
    ):
        backend.migrate()
    assert backend.client.get(backend.keys.version) == "99"
