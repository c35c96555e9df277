"""PostgreSQL-only behaviour: transactional enqueue, lost connections, migrations, wake-ups."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import taskheap
from taskheap.backends.base import Completion, NewJob
from taskheap.backends.postgres import PostgresBackend, migrations
from taskheap.codec import encode_payload
from taskheap.job import IdGenerator

from ..blocked import postgres_listeners
from ..conftest import wait_for
from ..postgres_support import postgres_url, server_url
from ..worker.conftest import Lab

IDS = IdGenerator()


@pytest.fixture
def url(tmp_path: Path) -> str:
    return postgres_url(tmp_path)


@pytest.fixture
def backend(url: str) -> Iterator[PostgresBackend]:
    backend = PostgresBackend(url)
    backend.migrate()
    yield backend
    backend.close()


@pytest.fixture
def lab(tmp_path: Path, url: str) -> Iterator[Lab]:
    lab = Lab(tmp_path, url, lease=1.0)
    yield lab
    lab.close()


def new_job(task: str, *args: object) -> NewJob:
    now = time.time()
    payload = encode_payload(task, args, {}, 1 << 20)
    return NewJob(IDS.new(), task, "default", 5, 5.0, payload, now, None, 3, None, None)


def test_job_enqueued_in_a_transaction_runs_only_after_commit(lab: Lab, url: str) -> None:
    backend = lab.app.backend
    assert isinstance(backend, PostgresBackend)
    worker = lab.worker("--concurrency", "1")
    wait_for(lambda: lab.app.stats()["workers"], what="the worker to register")
    job = new_job("add", 2, 3)
    with psycopg.connect(server_url()) as conn:
        backend.enqueue_in(conn, [job])
        looked = postgres_listeners(backend)  # the worker looks again within its IDLE_WAIT
        wait_for(lambda: looked() > 0, what="the worker to look for work while the job is uncommitted")
        assert backend.get(job.id) is None
        conn.commit()
    assert lab.app.get_job(job.id).result(timeout=10) == 5
    assert worker.proc.poll() is None, worker.output()


def test_workers_recover_when_every_connection_is_terminated(lab: Lab, url: str) -> None:
    handles = [lab.tasks.sleepy.enqueue(f"job{i}", 0.05) for i in range(60)]
    workers = [lab.worker("--concurrency", "4") for _ in range(2)]
    wait_for(lambda: len(lab.marks("job10.start")) > 0, what="jobs to be running")
    assert terminate_connections(url) >= 2 * 2, "each worker has pooled connections and a listener"
    wait_for(lambda: len(lab.marks("job30.start")) > 0, what="the workers to carry on")
    terminate_connections(url)

    def all_succeeded() -> bool:
        return bool(lab.app.stats()["queues"]["default"]["succeeded"] == len(handles))

    wait_for(all_succeeded, timeout=20, what="every job to succeed")
    assert lab.app.stats()["queues"]["default"]["running"] == 0
    assert all(lab.marks(f"job{i}.done") for i in range(len(handles)))
    assert all(w.proc.poll() is None for w in workers), [w.output() for w in workers]


def terminate_connections(url: str) -> int:
    """Kill every server connection of the URL's schema (they are named taskheap:<schema>)."""
    schema = PostgresBackend(url).schema
    with psycopg.connect(server_url(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            [f"taskheap:{schema}"],
        ).fetchall()
    return len(rows)


def test_migrations_apply_once_from_an_empty_schema_even_concurrently(url: str) -> None:
    backends = [PostgresBackend(url) for _ in range(6)]
    errors: list[BaseException] = []

    def migrate(backend: PostgresBackend) -> None:
        try:
            backend.migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(b,)) for b in backends]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    backends[0].migrate()  # again: a no-op
    schema = backends[0].schema
    with psycopg.connect(server_url()) as conn:
        versions = conn.execute(f"SELECT version FROM {schema}.migrations ORDER BY version").fetchall()
    assert [v for (v,) in versions] == [version for version, _ in migrations()]
    backends[0].enqueue([new_job("add", 1, 1)])
    assert len(backends[1].claim(["default"], "w1", 10, 30.0)) == 1
    for backend in backends:
        backend.close()


def test_enqueue_against_an_unreachable_server_raises_a_clear_error() -> None:
    app = taskheap.App("postgresql://postgres@127.0.0.1:1/test?schema=th_test_nowhere")
    add = app.task(name="add")(lambda x, y: x + y)
    with pytest.raises(taskheap.BackendError, match=r"cannot reach PostgreSQL at postgresql://postgres@127"):
        add.enqueue(1, 2)


def test_an_idle_worker_is_woken_by_an_enqueue_not_by_its_timeout(backend: PostgresBackend, url: str) -> None:
    listening = postgres_listeners(backend)
    waiter = threading.Thread(target=backend.wait_for_work, args=(["default"], 60.0), daemon=True)
    waiter.start()
    # blocked first: it must wake for the enqueue, not find the job queued
    wait_for(lambda: listening() > 0, what="the idle wait to listen")
    other = PostgresBackend(url)
    other.enqueue([new_job("add", 1, 1)])
    other.close()
    waiter.join(10.0)
    assert not waiter.is_alive(), "the enqueue did not wake the idle wait (its timeout is 60 s)"


def test_counts_stay_exact_through_folds_and_prunes(backend: PostgresBackend) -> None:
    backend.enqueue([new_job("add", i, i) for i in range(50)])
    claimed = backend.claim(["default"], "w1", 20, 30.0)
    assert backend.counts() == {"default": {"queued": 30, "running": 20}}
    backend.complete([Completion(job.id, job.token, "null") for job in claimed])
    assert backend.prune(-60.0, 5) == 5  # finished before a minute from now
    assert backend.counts() == {"default": {"queued": 30, "succeeded": 15}}
    assert backend.queued_by_priority() == {"default": {5: 30}}


def test_connections_give_up_on_a_server_that_stopped_answering_within_seconds() -> None:
    """libpq's keepalives and tcp_user_timeout, unless the URL sets its own: a partition is
    noticed well within a lease instead of after TCP's retransmissions (minutes)."""
    from psycopg.conninfo import conninfo_to_dict

    from taskheap.backends.postgres_url import parse_url

    conninfo = parse_url("postgresql://app@db:5432/shop").conninfo
    options = conninfo_to_dict(conninfo)
    assert (options["keepalives"], options["tcp_user_timeout"]) == ("1", "10000")
    assert options["application_name"] == "taskheap:taskheap"
    own = parse_url("postgresql://app@db:5432/shop?tcp_user_timeout=3000&keepalives_idle=1").conninfo
    assert (
        conninfo_to_dict(own)["tcp_user_timeout"] == "3000"
        and conninfo_to_dict(own)["keepalives_idle"] == "1"
    )
