"""The limited claim on PostgreSQL (postgres_limits.py): its transaction, the previous batch's
completions and all, costs one round trip, and a failure inside it leaves its connection idle
(rolled back) for the next claim."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from taskheap.backends.base import Completion
from taskheap.backends.postgres import PostgresBackend
from taskheap.backends.queue_limits import QueueLimits
from taskheap.errors import BackendError

from ..postgres_support import postgres_url, server_url
from .test_postgres_backend import new_job

LIMITS = QueueLimits(concurrency=100, rate=1000, period=1.0)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[PostgresBackend]:
    """A schema with a limited queue `lim` of 30 jobs, which the backend knows to be limited."""
    backend = PostgresBackend(postgres_url(tmp_path))
    backend.migrate()
    backend.declare_queues({"lim": LIMITS})
    jobs = [new_job("add", n, n) for n in range(30)]
    for job in jobs:
        job.queue = "lim"
    backend.enqueue(jobs)
    assert len(backend.claim(["lim"], "w", 1, 30.0)) == 1  # learns that lim has limits
    yield backend
    backend.close()


def traced(backend: PostgresBackend, trace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every message the backend's calls send and receive from now on, appended to `trace`."""
    run = backend._connections.run

    def run_traced(work: Callable[[Any], Any], fast_commit: bool = False, bounded: bool = True) -> Any:
        def work_traced(conn: Any) -> Any:
            with trace.open("a") as sink:
                conn.pgconn.trace(sink.fileno())
                try:
                    return work(conn)
                finally:
                    conn.pgconn.untrace()

        return run(work_traced, fast_commit, bounded)

    monkeypatch.setattr(backend._connections, "run", run_traced)


def test_a_limited_claim_and_its_completions_are_one_round_trip(
    backend: PostgresBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = backend.claim(["lim"], "w", 5, 30.0)
    trace = tmp_path / "trace.txt"
    traced(backend, trace, monkeypatch)
    done = [Completion(job.id, job.token, "null") for job in first]
    completed, claimed = backend.complete_and_claim(done, ["lim"], "w", 5, 30.0)
    assert sorted(completed) == sorted(job.id for job in first)
    assert len(claimed) == 5
    syncs = [line for line in trace.read_text().splitlines() if "\tSync" in line]
    assert len(syncs) == 1, trace.read_text()


def test_a_limited_claim_that_fails_in_its_transaction_leaves_its_connection_idle(
    backend: PostgresBackend, caplog: pytest.LogCaptureFixture
) -> None:
    refuse = f"""
        CREATE FUNCTION {backend.schema}.refuse() RETURNS trigger LANGUAGE plpgsql
            AS $$ BEGIN RAISE EXCEPTION 'no starts today'; END $$;
        CREATE TRIGGER refuse BEFORE INSERT ON {backend.schema}.queue_starts
            EXECUTE FUNCTION {backend.schema}.refuse();
    """
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(refuse)
    with caplog.at_level(logging.WARNING, logger="psycopg.pool"):
        with pytest.raises(BackendError, match="no starts today"):
            backend.claim(["lim"], "w", 5, 30.0)
        assert [record.message for record in caplog.records] == []  # none returned mid-transaction
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(f"DROP TRIGGER refuse ON {backend.schema}.queue_starts")
    assert len(backend.claim(["lim"], "w", 5, 30.0)) == 5
