"""Bad data written straight into the store with the raw client a person would use (sqlite3,
redis-py, psycopg), beside healthy jobs, under a real worker process: each bad job ends dead at
once with a reason naming the problem, the healthy ones run, and the worker neither exits nor
loses a slot, in the thread pool and the process pool. Where the store's own schema refuses the
write (PostgreSQL), that refusal is asserted instead. Redis entries are well-formed version 1
inbox entries with the bad data inside the payload string (unreadable entries and invalid UTF-8
in replies are the Redis backend's own cases)."""

from __future__ import annotations

import pickle
import signal
import time
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from taskheap.job import TERMINAL, JobState
from tests.bad_rows import (
    ADD,
    IDS,
    INVALID_UTF8,
    UNREADABLE_ENTRY,
    bad_jobs,
    insert_row,
    raw_postgres,
    write,
)

from .conftest import Lab

SETTLE = 30.0  # seconds the jobs get to reach their final state


def states(lab: Lab, ids: list[str], timeout: float) -> dict[str, JobState | None]:
    """Each job's state once all are finished, or as they are when `timeout` runs out (read
    without decoding anything)."""
    deadline = time.monotonic() + timeout
    while True:
        records = {i: lab.app.admin.record(i) for i in ids}
        found = {i: None if r is None else r.state for i, r in records.items()}
        if all(s in TERMINAL for s in found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_bad_jobs_written_into_the_store_die_with_their_reason_and_cost_no_healthy_job_nor_slot(
    lab: Lab, pool: str
) -> None:
    healthy = [lab.tasks.add.enqueue(i, 100) for i in range(3)]
    written = write(lab, bad_jobs(lab))
    exits = lab.tasks.exits.enqueue(3)  # a task raising SystemExit must not end its slot
    healthy += [lab.tasks.add.enqueue(i, 200) for i in range(3)]
    worker = lab.worker("--concurrency", "2", "--pool", pool)

    ids = [*written, exits.id, *(h.id for h in healthy)]
    found = states(lab, ids, SETTLE)
    expected = {i: JobState.SUCCEEDED if not raw.reason else JobState.DEAD for i, raw in written.items()}
    expected |= {exits.id: JobState.DEAD} | {h.id: JobState.SUCCEEDED for h in healthy}
    names = {i: raw.name for i, raw in written.items()} | {exits.id: "exits"}
    assert {names.get(i, i): s for i, s in found.items()} == {names.get(i, i): s for i, s in expected.items()}
    assert [h.result(timeout=1) for h in healthy] == [100, 101, 102, 200, 201, 202]

    for job_id, raw in written.items():
        info = lab.app.get_job(job_id).info()  # readable, however bad its payload
        if raw.reason:
            assert (info.error or "").startswith(raw.reason), (raw.name, info.error)
            assert info.attempts == 1, raw.name  # dead at once: retrying cannot help
        else:
            assert info.result == 5, raw.name
    if urlsplit(lab.url).scheme == "redis":  # the entry that was no job at all: a dead job now
        known = {*written, exits.id}
        (unreadable,) = [j for j in lab.app.admin.jobs(state="dead", limit=100) if j.id not in known]
        assert unreadable.error == "unreadable inbox entry: not JSON", unreadable.error
        assert lab.app.admin.record(unreadable.id).payload == UNREADABLE_ENTRY.decode()  # type: ignore[union-attr]
    exit_info = exits.info()
    assert (exit_info.error or "").startswith("SystemExit: 3"), exit_info.error
    assert not (lab.path / "unpickled").exists(), "a payload was unpickled"

    assert worker.proc.poll() is None, f"the worker exited:\n{worker.output()}"
    meet = [lab.tasks.rendezvous.enqueue("meet", 2, 10) for _ in range(2)]
    assert [h.result(timeout=20) for h in meet] == [True, True], "the two slots did not run at once"
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output()
    output = worker.output()
    assert "Exception in thread" not in output and "worker slot failed" not in output, output


@pytest.mark.parametrize("backend_url", ["postgres"], indirect=True)
def test_postgres_refuses_invalid_utf8_nul_bytes_and_a_priority_its_integer_cannot_hold(lab: Lab) -> None:
    lab.app.backend.migrate()
    refused = [
        ("invalid UTF-8", "convert_from(%s::bytea, 'UTF8')", INVALID_UTF8, 5, "invalid byte sequence"),
        ("a NUL byte", "convert_from(%s::bytea, 'UTF8')", b'{"args":["\x00"]}', 5, "invalid byte sequence"),
        ("a binary pickle", "convert_from(%s::bytea, 'UTF8')", pickle.dumps([1]), 5, "invalid byte sequence"),
        ("priority 10**12", "%s", ADD, 10**12, "integer out of range"),
    ]
    with raw_postgres(lab) as (conn, schema):
        for name, value, payload, priority, reason in refused:
            with pytest.raises(psycopg.errors.DataError, match=reason):
                conn.execute(
                    insert_row(schema, value), [IDS.new(), priority, payload, 3, None, None, time.time()]
                )
                pytest.fail(f"{name} was stored")
        count = sql.SQL("SELECT count(*) FROM {}.jobs").format(sql.Identifier(schema))
        assert conn.execute(count).fetchone() == (0,)
