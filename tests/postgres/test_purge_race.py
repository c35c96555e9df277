"""A purge of waiting jobs that meets a claim in flight leaves the claimed job alone: the DELETE
checks the state of the row it deletes, not only of the row its subquery saw (under READ
COMMITTED, a row updated concurrently is rechecked against the DELETE's own conditions only)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import taskheap
from taskheap.backends.postgres import PostgresBackend
from tests.conftest import wait_for

from ..postgres_support import postgres_url


@pytest.fixture
def app(tmp_path: Path) -> Iterator[taskheap.App]:
    application = taskheap.App(postgres_url(tmp_path))
    yield application
    application.close()


def test_a_purge_that_waits_on_a_claim_in_flight_does_not_delete_the_claimed_job(app: taskheap.App) -> None:
    job = app.task(name="echo")(lambda x: x).enqueue(1)
    backend = app.backend
    assert isinstance(backend, PostgresBackend)
    purged: list[int] = []
    with psycopg.connect(backend.conninfo) as claim:  # the claim's transaction: the row locked, running
        claim.execute(f'UPDATE "{backend.schema}".jobs SET state = %s WHERE id = %s', ("running", job.id))
        purge = threading.Thread(target=lambda: purged.append(app.admin.purge_waiting("default", ["queued"])))
        purge.start()
        wait_for(lambda: _waits_on_a_lock(backend), 30, "the purge to wait for the claim's row lock")
        claim.commit()
    purge.join(30)
    assert purged == [0]
    assert job.status() == "running"


def _waits_on_a_lock(backend: PostgresBackend) -> bool:
    with psycopg.connect(backend.conninfo, autocommit=True) as probe:
        row = probe.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND position('DELETE FROM' in query) > 0 AND position(%s in query) > 0",
            (backend.schema,),
        ).fetchone()
    return row is not None and row[0] > 0
