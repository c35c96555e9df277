"""The inbox entries' wire format: a producer writes the lowest version that expresses the job
(1 without meta, on the inbox; 2 with it, on `inbox:v2`, which workers before it never read);
ingest reads every version it knows, and moves an entry of a newer version aside, intact, for a
newer worker, warning about it, while the entries behind it ingest."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest

from taskheap.backends.base import Completion, JobQuery, Lease, NewJob, Postponement
from taskheap.backends.redis import RedisBackend, inbox_entries
from taskheap.errors import QueueFull
from taskheap.job import JobState

META = '{"headers": {"trace": "t-1"},\n "sig": "\\"é\\\\"}'  # quotes, a backslash, é, a newline
LEASE = 30.0


def job(job_id: str, meta: str | None = None, rank: float = 5.0) -> NewJob:
    return NewJob(job_id, "echo", "default", 5, rank, '{"args":[1]}', 60.0, None, 3, None, None, meta)


def v1(job_id: str, rank: str = "5.0") -> str:
    """A version 1 entry as releases before wire format 2 wrote it."""
    return json.dumps([job_id, "echo", "default", "5", rank, '{"args":[1]}', "60.0", "", "3", "", ""])


def push(backend: RedisBackend, *entries: str, queue: str = "default") -> None:
    """Push entries as a producer does: it lists the queue among the known ones (and on a
    Cluster writes the id index)."""
    backend.client.sadd(backend.keys.queues, queue)
    if backend.cluster:
        decoded = [json.loads(entry) for entry in entries if entry]  # '': a wake-up marker
        ids = {fields[isinstance(fields[0], int)]: queue for fields in decoded}
        backend.client.hset(backend.keys.index, mapping=ids)
    backend.client.rpush(backend.keys.q(queue) + "inbox", *entries)


def test_a_job_without_meta_is_written_in_wire_format_1_byte_for_byte_as_before() -> None:
    plain = NewJob("a", "echo", "default", 5, 2.5, '{"args":[1]}', 60.0, None, 3, None, None)
    later = NewJob("c", "echo", "q", 1, 1e-7, "{}", 60.25, 99.5, 0, '{"base":1}', 3.0)
    assert inbox_entries([plain, later, job("b", meta="")]) == {
        ("default", "inbox"): [
            '["a","echo","default","5","2.5","{\\"args\\":[1]}","60.0","","3","",""]',
            '["b","echo","default","5","5.0","{\\"args\\":[1]}","60.0","","3","",""]',
        ],
        ("q", "inbox"): ['["c","echo","q","1","1e-07","{}","60.25","99.5","0","{\\"base\\":1}","3.0"]'],
    }


def test_a_job_with_meta_is_written_in_wire_format_2_the_number_then_format_1_then_meta() -> None:
    lists = inbox_entries([job("a"), job("b", META), job("c")])
    assert [json.loads(entry)[0] for entry in lists[("default", "inbox")]] == ["a", "c"]
    (with_meta,) = lists[("default", "inbox:v2")]
    (without_meta,) = inbox_entries([job("b")])[("default", "inbox")]
    assert json.loads(with_meta) == [2, *json.loads(without_meta), META]
    assert with_meta.startswith('[2,"b","echo",')


def test_the_list_older_workers_read_only_ever_holds_version_1_entries_and_markers(
    backend: RedisBackend,
) -> None:
    """Workers before wire format 2 pop the inbox and take an entry's first element for its id:
    a version 2 entry there would become a garbage job and fail their ingest, losing its batch.
    So a job with meta goes to `inbox:v2`, with a marker on the inbox to wake an idle worker."""
    backend.enqueue([job("a"), job("b", META)])
    backend.enqueue([job("c", META)])
    inbox = backend.client.lrange(backend.keys.q("default") + "inbox", 0, -1)
    assert [entry if entry == "" else json.loads(entry)[0] for entry in inbox] == ["a", "", ""]
    v2 = backend.client.lrange(backend.keys.q("default") + "inbox:v2", 0, -1)
    assert [json.loads(entry)[:2] for entry in v2] == [[2, "b"], [2, "c"]]
    claimed = backend.claim(["default"], "w", 10, LEASE)
    assert sorted((c.id, c.meta) for c in claimed) == [("a", None), ("b", META), ("c", META)]
    assert backend.client.llen(backend.keys.q("default") + "inbox:v2") == 0


def test_version_1_entries_of_an_older_producer_ingest_and_claim_as_before(backend: RedisBackend) -> None:
    push(backend, v1("old-1", "2.0"), "", v1("old-2", "1.0"))
    claimed = backend.claim(["default"], "w", 10, LEASE)
    assert [(c.id, c.attempts, c.meta) for c in claimed] == [("old-2", 1, None), ("old-1", 1, None)]
    record = backend.get("old-1")
    assert record is not None and record.state == JobState.RUNNING and record.meta is None
    assert "meta" not in backend.client.hgetall(backend.keys.q("default") + "job:old-1")


@pytest.mark.parametrize("path", ["fresh", "queued"])
def test_meta_comes_back_from_both_claim_paths_expired_get_and_list_jobs(
    backend: RedisBackend, path: str
) -> None:
    backend.enqueue([job("with", META, rank=1.0), job("without", rank=2.0)])
    if path == "queued":  # ingested first: the claim pops the queued set
        assert backend.counts() == {"default": {"queued": 2}}
    claimed = backend.claim(["default"], "w", 2, LEASE, now=100.0)
    assert [(c.id, c.meta) for c in claimed] == [("with", META), ("without", None)]
    expired = backend.expired(10, now=100.0 + LEASE + 1)
    assert sorted((c.id, c.meta) for c in expired) == [("with", META), ("without", None)]
    for records in ([backend.get("with"), backend.get("without")], backend.list_jobs(JobQuery())):
        assert {r.id: r.meta for r in records if r is not None} == {"with": META, "without": None}


def expiring(job_id: str, meta: str | None = None, expires_at: float = 90.0) -> NewJob:
    j = job(job_id, meta)
    j.expires_at = expires_at
    return j


def test_a_job_with_an_expiry_is_written_in_wire_format_3_off_the_older_lists(backend: RedisBackend) -> None:
    """Workers before wire format 3 read only inbox and inbox:v2: a job with an expiry goes to
    `inbox:v3` (meta or not), with a marker on the inbox; ingest stores its expiry."""
    (plain,) = inbox_entries([job("a")])[("default", "inbox")]
    (entry,) = inbox_entries([expiring("a", META)])[("default", "inbox:v3")]
    assert json.loads(entry) == [3, *json.loads(plain), META, "90.0"]
    (bare,) = inbox_entries([expiring("b")])[("default", "inbox:v3")]
    assert json.loads(bare)[-2:] == ["", "90.0"]
    backend.enqueue([job("old"), expiring("x", META), expiring("y")])
    inbox = backend.client.lrange(backend.keys.q("default") + "inbox", 0, -1)
    assert [e if e == "" else json.loads(e)[0] for e in inbox] == ["old", ""]
    assert backend.client.llen(backend.keys.q("default") + "inbox:v2") == 0
    claimed = {c.id: c for c in backend.claim(["default"], "w", 10, LEASE, now=90.0)}
    assert sorted(claimed) == ["old", "x", "y"] and claimed["x"].meta == META and claimed["y"].meta is None
    assert claimed["x"].past_expiry and claimed["y"].past_expiry and not claimed["old"].past_expiry
    assert backend.client.hget(backend.keys.q("default") + "job:x", "expires_at") == "90.0"
    assert backend.client.llen(backend.keys.q("default") + "inbox:v3") == 0


def grouped(job_id: str, group: str, meta: str | None = None, expires_at: float | None = None) -> NewJob:
    j = job(job_id, meta)
    j.group, j.expires_at = group, expires_at
    return j


def test_a_job_with_a_group_is_written_in_wire_format_4_off_the_older_lists(backend: RedisBackend) -> None:
    """Workers before wire format 4 never read `inbox:v4`: they would run a group-limited job
    unbounded (and drop its group). Ingest stores the group; meta and expiry come along."""
    (plain,) = inbox_entries([job("a")])[("default", "inbox")]
    (entry,) = inbox_entries([grouped("a", "tenant-1", META, 90.0)])[("default", "inbox:v4")]
    assert json.loads(entry) == [4, *json.loads(plain), META, "90.0", "tenant-1"]
    (bare,) = inbox_entries([grouped("b", "t")])[("default", "inbox:v4")]
    assert json.loads(bare)[-3:] == ["", "", "t"]
    backend.enqueue([job("old"), grouped("x", "tenant-1", META, 90.0), grouped("y", "t")])
    inbox = backend.client.lrange(backend.keys.q("default") + "inbox", 0, -1)
    assert [e if e == "" else json.loads(e)[0] for e in inbox] == ["old", ""]
    for name in ("inbox:v2", "inbox:v3"):
        assert backend.client.llen(backend.keys.q("default") + name) == 0
    claimed = {c.id: c for c in backend.claim(["default"], "w", 10, LEASE, now=90.0)}
    assert sorted(claimed) == ["old", "x", "y"] and claimed["x"].meta == META and claimed["x"].past_expiry
    assert not claimed["y"].past_expiry
    fields = [backend.client.hget(backend.keys.q("default") + f"job:{i}", "group") for i in ("x", "y", "old")]
    assert fields == ["tenant-1", "t", None]
    assert backend.client.hget(backend.keys.q("default") + "job:y", "expires_at") is None
    assert backend.client.llen(backend.keys.q("default") + "inbox:v4") == 0


@pytest.mark.parametrize("path", ["fresh", "queued"])
def test_the_expiring_set_holds_only_unstarted_jobs(backend: RedisBackend, path: str) -> None:
    """A claim takes a first attempt off it, a give-back with no attempt spent puts it back:
    finished jobs with a long expiry do not pile up there."""
    expiring_key = backend.keys.q("default") + "expiring"
    backend.enqueue([expiring("x", expires_at=1e9), expiring("y", expires_at=1e9)])
    if path == "queued":
        assert backend.counts() == {"default": {"queued": 2}}
        assert backend.client.zcard(expiring_key) == 2
    x, y = backend.claim(["default"], "w", 2, LEASE, now=60.0)
    assert backend.client.zcard(expiring_key) == 0
    backend.release([Lease(x.id, x.token)])
    backend.postpone([Postponement(y.id, y.token, 5.0)], now=60.0)
    assert backend.client.zrange(expiring_key, 0, -1) == ["x", "y"]
    x, y = backend.claim(["default"], "w", 2, LEASE, now=70.0)
    backend.complete([Completion(x.id, x.token, "1"), Completion(y.id, y.token, "1")], now=70.0)
    assert backend.client.zcard(expiring_key) == 0


def test_a_limited_enqueue_counts_and_pushes_jobs_of_every_wire_version(backend: RedisBackend) -> None:
    batch = [job("a"), job("b", META), expiring("c"), grouped("g", "t")]
    backend.enqueue(batch, limits={"default": 4})
    with pytest.raises(QueueFull):
        backend.enqueue([expiring("d")], limits={"default": 4})
    backend.enqueue(batch, limits={"default": 4})  # a retried call
    assert backend.count_jobs(JobQuery()) == 4
    claimed = {c.id: c for c in backend.claim(["default"], "w", 10, LEASE, now=60.0)}
    assert sorted(claimed) == ["a", "b", "c", "g"] and claimed["b"].meta == META
    assert [e.id for e in backend.expire_due(10, now=100.0)] == [], "c started: it no longer expires"
    other = expiring("e")
    other.queue = "other"
    for _ in range(2):  # a retried call whose first entry is of wire version 3: not refused, not twice
        backend.enqueue([other], limits={"other": 1})
    assert backend.count_jobs(JobQuery(queue="other")) == 1


def aside(backend: RedisBackend, version: str) -> list[str]:
    return list(backend.client.lrange(backend.keys.aside("default", version), 0, -1))


def newer(job_id: str, version: int = 5) -> str:
    return json.dumps(
        [version, job_id, "echo", "default", "5", "1.0", "{}", "60.0", "", "3", "", "", "", "g", "x"]
    )


READERS: dict[str, Callable[[RedisBackend], object]] = {
    "claim": lambda backend: backend.claim(["default"], "w", 10, LEASE),
    "admin read": lambda backend: backend.counts(),
    "promote": lambda backend: backend.promote_due(),
    "claim over several queues": lambda backend: backend.claim(["default", "other"], "w", 10, LEASE),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_entries_of_a_newer_wire_version_are_kept_aside_intact_and_those_behind_them_ingest(
    backend: RedisBackend, reader: str, caplog: pytest.LogCaptureFixture
) -> None:
    kept = [newer("v5-a"), newer("v5-b"), newer("v6", version=6)]
    push(backend, v1("old"), kept[0])
    backend.enqueue([job("new", META)])  # onto inbox:v2, with a marker on the inbox
    push(backend, kept[1], kept[2])
    with caplog.at_level(logging.WARNING, logger="taskheap.redis"):
        READERS[reader](backend)
    assert aside(backend, "5") == kept[:2] and aside(backend, "6") == kept[2:]
    warnings = {r.getMessage() for r in caplog.records if "need a newer taskheap" in r.getMessage()}
    assert warnings == {
        f"{n} inbox entries of queue default need a newer taskheap (wire format v{version}): kept in"
        f" {backend.keys.aside('default', version)} for a newer worker"
        for n, version in ((2, "5"), (1, "6"))
    }
    assert len([r for r in caplog.records if "need a newer taskheap" in r.getMessage()]) == 2
    assert backend.client.llen(backend.keys.q("default") + "inbox") == 0
    assert backend.client.llen(backend.keys.q("default") + "inbox:v2") == 0
    assert {r.id for r in backend.list_jobs(JobQuery())} == {"old", "new"}
    if not reader.startswith("claim"):
        assert sorted((c.id, c.meta) for c in backend.claim(["default"], "w", 10, LEASE)) == [
            ("new", META),
            ("old", None),
        ]
    assert backend.counts() == {"default": {"running": 2}}
    assert aside(backend, "5") == kept[:2]  # nothing lost, nothing taken twice


def test_a_newer_entry_in_a_long_inbox_does_not_stop_the_ingest_behind_it(backend: RedisBackend) -> None:
    backend.enqueue([job(f"a-{i:05d}") for i in range(6000)])
    push(backend, newer("v5"))
    backend.enqueue([job("urgent", rank=0.0)])
    assert [c.id for c in backend.claim(["default"], "w", 1, LEASE)] == ["urgent"]
    assert aside(backend, "5") == [newer("v5")]
    assert backend.count_jobs(JobQuery()) == 6001


def test_a_job_with_meta_behind_a_full_batch_is_ingested_by_the_next(backend: RedisBackend) -> None:
    """Its marker comes in a batch that fills before inbox:v2 is read: the marker is pushed back,
    so the next ingest reads the list (and no read is left waiting for a marker that is gone)."""
    backend.enqueue([job(f"a-{i:05d}") for i in range(10)])
    backend.enqueue([job("with-meta", META, rank=0.0)])
    backend.enqueue([job(f"b-{i:05d}") for i in range(6000)])
    assert backend.count_jobs(JobQuery()) == 6011
    assert backend.client.llen(backend.keys.q("default") + "inbox:v2") == 0
    (first,) = backend.claim(["default"], "w", 1, LEASE)
    assert (first.id, first.meta) == ("with-meta", META)
