"""Inbox entries someone else wrote straight into Redis, that ingest cannot read: each becomes a
dead job with the reason (never dropped), and the healthy entries beside it, in the same ingest
batch, are ingested and run as if it were not there. Before, one such entry failed the script
after its pops, and every entry popped with it was gone."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest

from taskheap.admin import Admin
from taskheap.backends.base import JobQuery
from taskheap.backends.redis import RedisBackend
from taskheap.codec import DEFAULT_MAX_PAYLOAD
from taskheap.job import JobState
from taskheap.worker.runner import refusal

LEASE = 30.0


def v1(job_id: str, **fields: str) -> str:
    """A version 1 entry (see lib.lua), with `fields` replacing the named ones."""
    names = ("id", "task", "queue", "priority", "rank", "payload", "enqueued_at", "run_at", "retries")
    values = dict(
        zip(names, (job_id, "echo", "default", "5", "5.0", '{"args":[1]}', "60.0", "", "3"), strict=True)
    )
    values.update(fields)
    return json.dumps([*(values[name] for name in names), fields.get("backoff", ""), ""])


BAD: list[tuple[str, bytes]] = [  # (what is wrong, the entry)
    ("not JSON", b"\x80\x81 pickled? no"),
    ("not a JSON array", b'"just a string"'),
    ("expected 11 fields, got 2", b'["a", "b"]'),
    ("expected 11 fields, got 9000", json.dumps(["x"] * 9000).encode()),  # too long to unpack in Lua
    ("unknown wire format version 1", b'[1, "x"]'),
    ("unknown wire format version 2.5", b'[2.5, "x"]'),
    (
        "field 4 is not a string",
        json.dumps(["bad-4", "echo", "default", 5, "5.0", "{}", "1", "", "3", "", ""]).encode(),
    ),
    ("rank is not a number", v1("bad-rank", rank="high").encode()),
    ("rank is not a number", v1("bad-rank-space", rank=" 5").encode()),  # Lua's tonumber takes these
    ("rank is not a number", v1("bad-rank-nan", rank="nan").encode()),
    ("run_at is not a number", v1("bad-run-at", run_at="tomorrow").encode()),
    ("run_at is not a number", v1("bad-run-at-inf", run_at="inf").encode()),
    ("priority is not an integer", v1("bad-priority", priority="urgent").encode()),
    (
        "priority is not an integer",
        v1("bad-priority-float", priority="1.5").encode(),
    ),  # Python's int() refuses
    ("retries is not an integer", v1("bad-retries-hex", retries="0x10").encode()),
    ("backoff is not a policy", v1("bad-backoff", backoff="[1, 2]").encode()),
    ("backoff is not a policy", v1("bad-backoff-nan", backoff="[1, 2, NaN, false]").encode()),
    ("backoff is not a policy", v1("bad-backoff-negative", backoff="[-1, 2, 60, false]").encode()),
    ("empty id", v1("").encode()),
    (
        "queue elsewhere is not the queue of the inbox it was pushed onto",
        v1("bad-queue", queue="elsewhere").encode(),
    ),
    (
        "queue default:x is not the queue of the inbox it was pushed onto",
        v1("bad-q2", queue="default:x").encode(),
    ),
    ("expected 13 fields, got 12", ("[3," + v1("bad-v3-short")[1:-1] + ', ""]').encode()),
    ("expires_at is not a number", ("[3," + v1("bad-v3-expiry")[1:-1] + ', "", "soon"]').encode()),
]


def push_raw(backend: RedisBackend, *entries: bytes | str, healthy: tuple[str, ...] = ()) -> None:
    """RPUSH as a raw producer would (listing the queue; on a Cluster, indexing the healthy ids)."""
    backend.client.sadd(backend.keys.queues, "default")
    if backend.cluster and healthy:
        backend.client.hset(backend.keys.index, mapping=dict.fromkeys(healthy, "default"))
    backend.client.rpush(backend.keys.q("default") + "inbox", *entries)


def dead_letters(backend: RedisBackend) -> dict[str, str]:
    """error -> payload of the dead jobs."""
    records = backend.list_jobs(JobQuery(state=JobState.DEAD, limit=1000))
    return {record.error or "": record.payload for record in records}


READERS: dict[str, Callable[[RedisBackend], object]] = {
    "claim": lambda backend: backend.claim(["default"], "w", 100, LEASE),
    "claim over several queues": lambda backend: backend.claim(["default", "other"], "w", 100, LEASE),
    "admin read": lambda backend: backend.counts(),
    "promote": lambda backend: backend.promote_due(),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_unreadable_entries_become_dead_jobs_and_their_neighbours_ingest(
    backend: RedisBackend, reader: str, caplog: pytest.LogCaptureFixture
) -> None:
    healthy = tuple(f"ok-{n:02d}" for n in range(len(BAD) + 1))
    entries: list[bytes | str] = [v1(healthy[0])]
    for job_id, (_, bad) in zip(healthy[1:], BAD, strict=True):
        entries += [bad, v1(job_id)]
    push_raw(backend, *entries, healthy=healthy)
    with caplog.at_level(logging.WARNING, logger="taskheap.redis"):
        READERS[reader](backend)
    errors = {
        record.payload: record.error for record in backend.list_jobs(JobQuery(state=JobState.DEAD, limit=100))
    }
    assert errors == {
        bad.decode(errors="surrogateescape"): f"unreadable inbox entry: {why}" for why, bad in BAD
    }
    assert any(
        "unreadable inbox entries of queue default are dead jobs now" in r.getMessage()
        for r in caplog.records
    )
    every = {r.id for r in backend.list_jobs(JobQuery(limit=1000)) if r.state != JobState.DEAD}
    assert every == set(healthy)
    claimed = [] if reader.startswith("claim") else backend.claim(["default"], "w", 100, LEASE)
    assert reader.startswith("claim") or {job.id for job in claimed} == set(healthy)
    assert backend.counts()["default"] == {"running": len(healthy), "dead": len(BAD)}
    assert backend.client.llen(backend.keys.q("default") + "inbox:unreadable") == 0


def test_forty_nine_jobs_enqueued_beside_one_bad_entry_all_claim(backend: RedisBackend) -> None:
    """The issue's case: 49 healthy jobs enqueued with one bad entry among them."""
    healthy = tuple(f"job-{n:02d}" for n in range(49))
    push_raw(
        backend, *(v1(i) for i in healthy[:20]), b"{garbage", *(v1(i) for i in healthy[20:]), healthy=healthy
    )
    claimed = backend.claim(["default"], "w", 100, LEASE)
    assert sorted(job.id for job in claimed) == list(healthy)
    (error,) = dead_letters(backend)
    assert error == "unreadable inbox entry: not JSON"


def test_entries_set_aside_by_a_client_that_died_are_buried_by_any_workers_maintenance(
    backend: RedisBackend,
) -> None:
    push_raw(backend, b"not json at all", v1("ok"), healthy=("ok",))
    keys = backend.keys.queue_keys("default")
    backend.scripts.ingest(backend.client, keys, [])  # set aside, then the client died: no bury
    assert backend.client.llen(backend.keys.q("default") + "inbox:unreadable") == 1
    assert dead_letters(backend) == {}
    backend.promote_due()  # what every worker's maintenance runs about once a second
    assert list(dead_letters(backend)) == ["unreadable inbox entry: not JSON"]
    assert backend.client.llen(backend.keys.q("default") + "inbox:unreadable") == 0


def test_a_byte_that_is_not_utf8_inside_a_field_is_read_without_failing_the_reply(
    backend: RedisBackend,
) -> None:
    """Redis holds bytes; a reply with a byte that is not UTF-8 used to raise UnicodeDecodeError
    past the backend's guard after the claim ran on the server, crashing the worker. It reads as
    a surrogate now (the worker refuses such a payload as undecodable, its neighbours run)."""
    bad = v1("bad-bytes", task="echo\udc80", payload='{"args":["\udc81"]}')
    raw = bad.encode("utf-8", "surrogateescape").replace(b"\\udc80", b"\x80").replace(b"\\udc81", b"\x81")
    push_raw(backend, raw, v1("ok"), healthy=("bad-bytes", "ok"))
    claimed = {job.id: job for job in backend.claim(["default"], "w", 10, LEASE)}
    assert set(claimed) == {"bad-bytes", "ok"}
    assert claimed["bad-bytes"].task == "echo\udc80" and claimed["bad-bytes"].payload == '{"args":["\udc81"]}'
    record = backend.get("bad-bytes")
    assert record is not None and record.payload == '{"args":["\udc81"]}'


def test_job_fields_rewritten_by_hand_are_claimed_as_they_are_for_the_worker_to_refuse(
    backend: RedisBackend,
) -> None:
    """An ingested job's hash edited with HSET: numbers that do not parse used to raise in the
    claim script (after it had leased the jobs before it: gone until their leases ran out, the bad
    one at the head of the queue for good) or in Python after it. Now they come back as the text
    they were, the worker's checks make that job dead with the reason, its neighbours claim."""
    push_raw(
        backend,
        v1("bad-attempts"),
        v1("bad-numbers"),
        v1("bad-enqueued"),
        v1("ok"),
        healthy=("bad-attempts", "bad-numbers", "bad-enqueued", "ok"),
    )
    backend.promote_due()  # ingests
    job_key = backend.keys.q("default") + "job:"
    backend.client.hset(job_key + "bad-attempts", "attempts", "several")
    backend.client.hset(job_key + "bad-numbers", mapping={"retries": "lots", "timeout": "soon"})
    backend.client.hset(job_key + "bad-enqueued", "enqueued_at", "yesterday")
    claimed = {job.id: job for job in backend.claim(["default"], "w", 10, LEASE)}
    assert set(claimed) == {"bad-attempts", "bad-numbers", "bad-enqueued", "ok"}
    refused = {job_id: refusal(job, DEFAULT_MAX_PAYLOAD) for job_id, job in claimed.items()}
    assert refused["ok"] is None
    assert refused["bad-attempts"] is not None and refused["bad-attempts"].error == (
        "attempts not a whole number >= 1: 'several'"
    )
    assert refused["bad-numbers"] is not None and refused["bad-numbers"].error == (
        "retries not a whole number >= 0: 'lots'"
    )
    assert refused["bad-enqueued"] is not None and refused["bad-enqueued"].error == (
        "enqueued_at not a number of seconds: 'yesterday'"
    )


def test_a_job_hash_edited_by_hand_is_still_read_by_the_admin_views(backend: RedisBackend) -> None:
    """Reads used to raise on the first number that did not parse, failing a whole listing."""
    push_raw(backend, v1("edited"), v1("fine"), healthy=("edited", "fine"))
    backend.promote_due()  # ingests
    backend.client.hset(
        backend.keys.q("default") + "job:edited", mapping={"priority": "urgent", "run_at": "soon"}
    )
    record = backend.get("edited")
    assert record is not None and (record.priority, record.run_at) == ("urgent", "soon")
    assert {r.id for r in backend.list_jobs(JobQuery(limit=10))} == {"edited", "fine"}
    info = Admin(backend).job("edited")
    assert info is not None and info.priority == "urgent"  # type: ignore[comparison-overlap]
