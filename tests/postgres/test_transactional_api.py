"""The public API of transactional enqueue on PostgreSQL: options(connection=) and app.transaction."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

import taskheap
from tests.postgres_support import postgres_url


@pytest.fixture
def app(tmp_path: Path) -> taskheap.App:
    return taskheap.App(postgres_url(tmp_path))


def _conninfo(app: taskheap.App) -> str:
    return app.url.split("?", 1)[0]


def test_job_enqueued_in_a_rolled_back_transaction_never_exists(app: taskheap.App) -> None:
    echo = app.task(name="echo")(lambda x: x)
    app.stats()
    with psycopg.connect(_conninfo(app)) as conn:
        handle = echo.options(connection=conn).enqueue("never")
        conn.rollback()
    with pytest.raises(taskheap.JobNotFound):
        handle.info()


def test_jobs_enqueued_in_a_transaction_appear_when_it_commits(app: taskheap.App) -> None:
    echo = app.task(name="echo")(lambda x: x)
    app.stats()
    with psycopg.connect(_conninfo(app)) as conn:
        with app.transaction(conn):
            handles = app.enqueue_many([echo.job(i) for i in range(3)])
            single = echo.enqueue("one")
        assert app.stats()["queues"] == {}
        conn.commit()
    assert [h.status() for h in [*handles, single]] == ["queued"] * 4
