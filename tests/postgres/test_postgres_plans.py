"""PostgreSQL query plans: the hot statements read their partial indexes, never the whole table,
and the worker's own state changes commit without waiting for the WAL flush."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from taskheap.backends.postgres import PostgresBackend, Statements
from taskheap.job import JobState

from ..postgres_support import postgres_url, server_url
from .test_postgres_backend import new_job

QUEUED = 2_000


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresBackend]:
    """A schema holding QUEUED jobs in three queues, analyzed, so the planner sees real sizes."""
    backend = PostgresBackend(postgres_url(Path(tmp_path_factory.mktemp("plans"))))
    backend.migrate()
    jobs = [new_job("add", n, n) for n in range(QUEUED)]
    for n, job in enumerate(jobs):
        job.queue = f"q{n % 3}"
    backend.enqueue(jobs)
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(f"ANALYZE {backend.schema}.jobs")
    yield backend
    backend.close()


def plan(backend: PostgresBackend, name: str, params: dict[str, Any]) -> str:
    statement = Statements(backend.schema)[name]
    with psycopg.connect(server_url(), autocommit=True) as conn:
        rows = conn.execute(f"EXPLAIN {statement}", params, prepare=False).fetchall()
    return "\n".join(row[0] for row in rows)


@pytest.mark.parametrize("queues", [1, 3])
def test_claim_reads_the_runnable_index_and_never_scans_the_jobs(
    backend: PostgresBackend, queues: int
) -> None:
    params = {"queues": [f"q{n}" for n in range(queues)], "worker": "w", "limit": 10, "lease": 30.0}
    details = plan(backend, "claim", {**params, "now": None})
    assert "Index Scan using jobs_runnable" in details, details
    assert "Seq Scan on jobs" not in details, details


def test_oldest_queued_job_per_queue_is_a_loose_scan_of_the_waiting_index(backend: PostgresBackend) -> None:
    details = plan(backend, "oldest", {"state": JobState.QUEUED})
    assert details.count("Index Scan using jobs_waiting") == 2, details  # first queue, next queue
    assert "Seq Scan on jobs" not in details and "Sort" not in details, details
    assert set(backend.oldest(JobState.QUEUED)) == {"q0", "q1", "q2"}


def test_worker_statements_commit_fast_and_enqueue_stays_durable(backend: PostgresBackend) -> None:
    def setting(fast_commit: bool) -> str:
        show = backend._run(lambda conn: conn.execute("SHOW synchronous_commit").fetchone(), fast_commit)
        assert show is not None
        return str(show[0])

    assert setting(fast_commit=True) == "off"
    assert setting(fast_commit=False) == "on"
