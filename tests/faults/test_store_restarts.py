"""The store killed and started again mid-run, with workers running and a producer enqueueing.

Redis (SIGKILL) under appendfsync always, everysec and RDB-only; a private PostgreSQL cluster
stopped `-m immediate`; SQLite under synchronous=FULL and NORMAL with every process SIGKILLed;
everything at once (workers, producer and the store server) on Redis (always) and PostgreSQL.

After a store restart the workers are never restarted: they must reconnect. Recovery is from the
store's restart (or, when everything was killed, from the restart of everything) until the first
run started after it has finished its work.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.harness import CaseResult, record, repeats
from tests.faults.store_runs import StoreRun, now
from tests.faults.stores import REDIS_MODES, PostgresCluster, RedisStore

pytestmark = pytest.mark.faults

BEFORE = 40  # runs finished before the fault, so that it lands mid-run
AFTER = 40  # runs started and finished after the restart, before the producer stops
#: What a SIGKILL of Redis may lose, by mode: the case measures it either way.
MAY_LOSE = {"always": False, "everysec": True, "rdb": True}

CI_REDIS_MODES = ("always",)  # the rest is faults_full
REDIS_PARAMS = [
    pytest.param(mode, marks=() if mode in CI_REDIS_MODES else pytest.mark.faults_full) for mode in REDIS_MODES
]


@pytest.fixture
def runs() -> Iterator[list[StoreRun]]:
    """The runs a test makes (appended to this list), closed after it, pass or fail."""
    made: list[StoreRun] = []
    yield made
    for run in made:
        run.close()


def _case(run: StoreRun, fault: Callable[[], None], case: str, mode: str, *, everything: bool) -> CaseResult:
    """Start the run; mid-run, `fault()` (which kills and restarts the store, and with
    `everything` kills the workers and the producer too, which then start afresh); run on,
    settle, and the verdict (recorded)."""
    run.start()
    run.wait_done(BEFORE)
    killed_at = now()
    fault()
    restarted = now()
    if everything:
        run.start()
    recovery = run.recovery(restarted)
    run.wait_done(AFTER, after=restarted)
    run.stop_producer()
    run.adopt()
    run.settle()
    assert run.workers_alive(), "a worker exited instead of reconnecting:\n" + run.logs()
    result = run.lab.verdict(case, mode, recovery_s=[round(recovery, 3)])
    result.extra.update(
        ran_twice=run.ran_twice(),
        outage_s=round(restarted - killed_at, 3),
        lost_window_s=run.lost_window(killed_at),
    )
    record(result)
    return result


@pytest.mark.parametrize("redis_store", REDIS_PARAMS, indirect=True)
def test_redis_killed_and_restarted_under_running_workers(
    redis_store: RedisStore, tmp_path: Path, runs: list[StoreRun]
) -> None:
    for attempt in range(repeats()):
        redis_store.client().flushall()
        runs.append(run := StoreRun(tmp_path / f"run-{attempt}", redis_store.url))
        result = _case(run, redis_store.restart, "store-restart", redis_store.mode, everything=False)
        result.check(may_lose=MAY_LOSE[redis_store.mode])


def test_postgres_stopped_immediate_and_started_under_running_workers(
    postgres_cluster: PostgresCluster, tmp_path: Path, runs: list[StoreRun]
) -> None:
    for attempt in range(repeats()):
        runs.append(run := StoreRun(tmp_path / f"run-{attempt}", f"{postgres_cluster.url}?schema=run{attempt}"))
        _case(run, postgres_cluster.restart, "store-restart", "immediate", everything=False).check()


@pytest.mark.parametrize("synchronous", ["FULL", pytest.param("NORMAL", marks=pytest.mark.faults_full)])
def test_sqlite_every_process_killed_at_once(synchronous: str, tmp_path: Path, runs: list[StoreRun]) -> None:
    for attempt in range(repeats()):
        database = tmp_path / f"run-{attempt}" / "jobs.db"
        runs.append(run := StoreRun(database.parent, f"sqlite:///{database}?synchronous={synchronous}"))

        def kill_and_check() -> None:
            run.kill_all()
            with sqlite3.connect(database) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

        _case(run, kill_and_check, "all-killed", synchronous.lower(), everything=True).check()


@pytest.mark.faults_full
@pytest.mark.parametrize("redis_store", ["always"], indirect=True)
def test_redis_everything_killed_at_once(redis_store: RedisStore, tmp_path: Path, runs: list[StoreRun]) -> None:
    for attempt in range(repeats()):
        redis_store.client().flushall()
        runs.append(run := StoreRun(tmp_path / f"run-{attempt}", redis_store.url))

        def kill_everything() -> None:
            run.kill_all(then=redis_store.kill)
            redis_store.start()

        _case(run, kill_everything, "all-killed", redis_store.mode, everything=True).check()


@pytest.mark.faults_full
def test_postgres_everything_killed_at_once(
    postgres_cluster: PostgresCluster, tmp_path: Path, runs: list[StoreRun]
) -> None:
    for attempt in range(repeats()):
        runs.append(run := StoreRun(tmp_path / f"run-{attempt}", f"{postgres_cluster.url}?schema=run{attempt}"))

        def kill_everything() -> None:
            run.kill_all(then=postgres_cluster.crash)
            postgres_cluster.start()

        _case(run, kill_everything, "all-killed", "immediate", everything=True).check()
