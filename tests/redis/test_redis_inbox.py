"""The inbox: an enqueue only appends encoded jobs to its queue's inbox list; the scripts that
read or change a queue's structures ingest it first, and admin reads ingest it to the end. Idle
workers block on the inbox itself."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

from taskheap.backends.base import ALL_TIME, Completion, JobQuery, Lease, NewJob
from taskheap.backends.redis import RedisBackend, inbox_entries
from taskheap.job import JobState

from ..blocked import LONG_WAIT, WOKEN_WITHIN, redis_blockers
from ..conftest import wait_for

LIB = (Path(__file__).parents[2] / "taskheap/backends/redis/lua/lib.lua").read_text()


def lib_constant(name: str) -> str:
    found = re.search(rf"^local {name} = '?(\d+)'?", LIB, re.MULTILINE)
    assert found, name
    return found.group(1)


INGEST_BATCH = int(lib_constant("INGEST_BATCH"))


def job(job_id: str, rank: float = 5.0, queue: str = "default") -> NewJob:
    return NewJob(job_id, "echo", queue, 5, rank, "{}", 60.0, None, 3, None, None)


def inbox_length(backend: RedisBackend, queue: str = "default") -> int:
    """Jobs not yet ingested: the inbox's and the intake's entries, not counting wake-up markers."""
    lists = [backend.keys.q(queue) + "inbox", backend.keys.q(queue) + "intake"]
    return sum(1 for key in lists for entry in backend.client.lrange(key, 0, -1) if entry)


def test_an_enqueue_only_fills_the_inbox_and_a_read_ingests_it_at_once(backend: RedisBackend) -> None:
    backend.enqueue([job("a"), job("b")])
    assert inbox_length(backend) == 2
    assert not backend.client.exists(backend.keys.q("default") + "job:a")
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


def test_an_idle_wait_moves_the_oldest_entry_to_the_intake_and_ingest_reads_it_first(
    backend: RedisBackend,
) -> None:
    backend.enqueue([job("first", rank=5.0), job("second", rank=5.0)])
    backend.wait_for_work(["default"], 5.0)  # returns at once: work is waiting
    assert backend.client.lrange(backend.keys.q("default") + "intake", 0, -1)[0].startswith('["first"')
    assert [c.id for c in backend.claim(["default"], "w", 2, 30.0)] == ["first", "second"]
    assert inbox_length(backend) == 0


def test_one_enqueued_job_wakes_one_of_two_idle_workers(backend: RedisBackend) -> None:
    blocked = redis_blockers(backend)
    waiters = [waiting(backend, ["default"]) for _ in range(2)]
    wait_for(lambda: blocked() == 2, what="both workers blocked")
    backend.enqueue([job("only")])
    wait_for(lambda: sum(w.is_alive() for w in waiters) == 1, what="one worker woken")
    # it took the entry into the intake: the inbox holds nothing to wake the other with, and the
    # other blocks again (a wait blocks MAX_BLOCK at a time: it may be between two BLMOVEs)
    assert backend.client.llen(backend.keys.q("default") + "intake") == 1
    assert backend.client.llen(backend.keys.q("default") + "inbox") == 0
    wait_for(lambda: blocked() == 1, what="the other worker still waiting")
    backend.enqueue([job("next")])
    for waiter in waiters:
        waiter.join(WOKEN_WITHIN)
        assert not waiter.is_alive(), f"a worker was not woken (its timeout is {LONG_WAIT} s)"


def test_a_wait_over_several_queues_wakes_for_any_of_them_and_leaves_nothing_blocked(
    backend: RedisBackend,
) -> None:
    started = time.monotonic()
    backend.wait_for_work(["a", "b"], 0.3)  # nothing comes: returns when time is up
    assert 0.25 <= time.monotonic() - started < 2.0
    blocked = redis_blockers(backend)
    waiter = waiting(backend, ["a", "b", "c"])
    # standalone, a connection per queue blocks at once; a Cluster takes turns on the queues
    wait_for(lambda: blocked() == (1 if backend.cluster else 3), what="the wait to block on its queues")
    backend.enqueue([job("c1", queue="c")])
    waiter.join(WOKEN_WITHIN)
    assert not waiter.is_alive(), f"the wait was not woken (its timeout is {LONG_WAIT} s)"
    assert blocked() == 0, "a connection of the wait is still blocked on a or b"
    backend.enqueue([job("a1", queue="a"), job("b1", queue="b")])
    for queue in "ab":  # a client still blocked there would have taken its job into the intake
        assert backend.client.llen(backend.keys.q(queue) + "intake") == 0, queue


def test_a_released_job_wakes_an_idle_worker_through_a_marker_that_ingest_drops(
    backend: RedisBackend,
) -> None:
    backend.enqueue([job("a")])
    (claimed,) = backend.claim(["default"], "w", 1, 30.0)
    backend.release([Lease(claimed.id, claimed.token)])
    started = time.monotonic()
    backend.wait_for_work(["default"], LONG_WAIT)
    assert time.monotonic() - started < WOKEN_WITHIN, f"the marker did not end the {LONG_WAIT} s wait"
    assert backend.counts() == {"default": {"queued": 1}}
    assert inbox_length(backend) == 0


def test_a_queue_lost_from_the_known_queues_is_listed_again_by_ingest(backend: RedisBackend) -> None:
    backend.enqueue([job("a", queue="q")])
    assert backend.client.smembers(backend.keys.queues) == {"q"}
    backend.client.delete(backend.keys.queues)  # e.g. a Redis restarted without persistence
    backend.enqueue([job("b", queue="q")])  # this producer listed q a moment ago: a bare push
    if not backend.cluster:  # (on a Cluster every push lists its queue: it is a pipeline anyway)
        assert backend.client.smembers(backend.keys.queues) == set()
    backend.claim(["q"], "w", 1, 30.0)
    assert backend.client.smembers(backend.keys.queues) == {"q"}


def waiting(backend: RedisBackend, queues: list[str]) -> threading.Thread:
    """An idle worker: `wait_for_work` on the queues with a LONG_WAIT timeout, in a thread."""
    waiter = threading.Thread(target=backend.wait_for_work, args=(queues, LONG_WAIT), daemon=True)
    waiter.start()
    return waiter


def test_a_claim_on_an_empty_queue_leases_the_best_fresh_jobs_as_it_stores_them(
    backend: RedisBackend,
) -> None:
    later = NewJob("later", "echo", "default", 0, 0.0, "{}", 60.0, 4e9, 3, None, None)
    fresh = [job("p5", 5.0), job("p1", 1.0), job("p3", 3.0), later, job("p1-again", 1.0)]
    backend.enqueue([*fresh, job("p1")])  # a repeated entry is stored once
    claimed = backend.claim(["default"], "w", 3, 30.0)
    assert [c.id for c in claimed] == ["p1", "p1-again", "p3"]
    assert all(c.attempts == 1 for c in claimed)
    running = backend.get("p1")
    assert running is not None and running.state == JobState.RUNNING and running.started_at is not None
    assert backend.counts() == {"default": {"running": 3, "queued": 1, "scheduled": 1}}
    assert backend.queued_by_priority() == {"default": {5: 1}}
    assert [row.enqueued for row in backend.minutes(ALL_TIME)] == [5]
    backend.complete([Completion(c.id, c.token, "null") for c in claimed])
    assert [c.id for c in backend.claim(["default"], "w", 3, 30.0)] == ["p5"]


def test_fresh_jobs_compete_with_the_queued_ones_by_rank(backend: RedisBackend) -> None:
    backend.enqueue([job("queued-p5", 5.0), job("queued-p2", 2.0)])
    assert backend.counts() == {"default": {"queued": 2}}  # ingested: the queue is not empty
    backend.enqueue([job("fresh-p1", 1.0), job("fresh-p3", 3.0)])
    claimed = backend.claim(["default"], "w", 2, 30.0)
    assert [c.id for c in claimed] == ["fresh-p1", "queued-p2"]
    assert backend.queued_by_priority() == {"default": {5: 2}}


def test_inbox_entries_are_the_json_arrays_ingest_decodes() -> None:
    plain = job("a", 2.5)
    payload = '{"args":["\\u2028"]}'
    odd = NewJob("b", 't"\\é\n', "q2", 1, 1e-7, payload, 60.25, 99.5, 0, '{"base":1}', 3.0)
    entries = inbox_entries([plain, odd, job("c", 2.5)])
    decoded = {queue: [json.loads(entry) for entry in listed] for (queue, _), listed in entries.items()}
    assert decoded == {
        "default": [
            ["a", "echo", "default", "5", "2.5", "{}", "60.0", "", "3", "", ""],
            ["c", "echo", "default", "5", "2.5", "{}", "60.0", "", "3", "", ""],
        ],
        "q2": [["b", 't"\\é\n', "q2", "1", "1e-07", payload, "60.25", "99.5", "0", '{"base":1}', "3.0"]],
    }
