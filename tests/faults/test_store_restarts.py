"""The store killed and started again mid-run, with workers running and a producer enqueueing.

Redis (SIGKILL) under appendfsync always, everysec and RDB-only; a private three-master Redis
Cluster, every node in one of those modes, whose node holding the queue's keys is SIGKILLed and
started again (each mode; with redis-cli's even split of the slots it holds none of the global
`{<prefix>}` keys), and whose every node is at once (always); a private PostgreSQL cluster
stopped `-m immediate`; SQLite under synchronous=FULL and NORMAL with every process SIGKILLed;
everything at once (workers, producer and the store's servers) on Redis (always), the Redis
Cluster (always) and PostgreSQL.

After a store restart the workers are never restarted: they must reconnect. A Cluster counts as
started again once every node says cluster_state:ok (a restarted master answers CLUSTERDOWN for
about 2 s first). Recovery is from the store's restart (or, when everything was killed, from the
restart of everything) until the first run started after it has finished its work."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.faults.harness import CaseResult, record, repeats
from tests.faults.store_runs import TIMEOUT, StoreRun, now
from tests.faults.stores import DURABLE_MODES, ClusterStore, PostgresCluster, RedisStore

pytestmark = pytest.mark.faults

BEFORE = 40  # runs finished before the fault, so that it lands mid-run
#: The fault comes at a random moment this many seconds into the run (and after BEFORE runs):
#: long enough for Redis's RDB-only mode (`save "1 1"`) to have saved a snapshot or two.
FAULT_AFTER = (2.0, 3.0)
AFTER = 40  # runs started and finished after the restart, before the producer stops
#: What a SIGKILL of Redis may lose, by mode: the case measures it either way.
MAY_LOSE = {"always": False, "everysec": True, "rdb": True}

#: The modes the CI subset runs (single Redis restarted; the Cluster's queue node); the rest: faults_full
CI_REDIS_MODES = ("always",)
REDIS_PARAMS = [
    pytest.param(mode, marks=() if mode in CI_REDIS_MODES else pytest.mark.faults_full)
    for mode in DURABLE_MODES
]


@pytest.fixture
def runs() -> Iterator[list[StoreRun]]:
    """The runs a test makes (appended to this list), closed after it, pass or fail."""
    made: list[StoreRun] = []
    yield made
    for run in made:
        run.close()


Store = RedisStore | ClusterStore | PostgresCluster


def _case(
    run: StoreRun, fault: Callable[[StoreRun], None], case: str, mode: str, *, everything: bool
) -> CaseResult:
    """Start the run; mid-run, `fault(run)` (which kills and restarts the store, and with
    `everything` kills the workers and the producer too, which then start afresh); run on,
    settle, and the verdict (recorded)."""
    started = now()
    run.start()
    run.wait_done(BEFORE)
    moment = random.uniform(*FAULT_AFTER)
    wait_for(lambda: now() - started >= moment, FAULT_AFTER[1] + TIMEOUT, "the fault's moment")
    killed_at = now()
    fault(run)
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
        fault_at_s=round(killed_at - started, 3),
        outage_s=round(restarted - killed_at, 3),
        lost_window_s=run.lost_window(killed_at),
    )
    record(result)
    run.close()  # before a repeat's run: these workers would claim its jobs
    return result


def _restart(store: Store) -> Callable[[StoreRun], None]:
    """The store killed and started again under the running workers and producer."""
    return lambda run: store.restart()


def _restart_queue_node(store: ClusterStore) -> Callable[[StoreRun], None]:
    """The Cluster node holding the queue's keys killed and started again."""
    return lambda run: store.restart_node(store.node_of_queue())


def _kill_everything(store: Store) -> Callable[[StoreRun], None]:
    """Every worker, the producer and the store killed at once; the store started again."""

    def fault(run: StoreRun) -> None:
        run.kill_all(then=store.kill)
        store.start()

    return fault


def _kill_and_check(run: StoreRun) -> None:
    """Every worker and the producer SIGKILLed at once; the SQLite file then passes
    integrity_check."""
    run.kill_all()
    with sqlite3.connect(run.lab.path / "jobs.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def _postgres_run(cluster: PostgresCluster, path: Path) -> StoreRun:
    return StoreRun(path, f"{cluster.url}?schema={path.name.replace('-', '_')}")


@pytest.mark.parametrize("redis_store", REDIS_PARAMS, indirect=True)
def test_redis_killed_and_restarted_under_running_workers(
    redis_store: RedisStore, tmp_path: Path, runs: list[StoreRun]
) -> None:
    for attempt in range(repeats()):
        redis_store.client().flushall()
        runs.append(run := StoreRun(tmp_path / f"run-{attempt}", redis_store.url))
        result = _case(run, _restart(redis_store), "store-restart", redis_store.mode, everything=False)
        result.check(may_lose=MAY_LOSE[redis_store.mode])


def test_postgres_stopped_immediate_and_started_under_running_workers(
    postgres_cluster: PostgresCluster, tmp_path: Path, runs: list[StoreRun]
) -> None:
    for attempt in range(repeats()):
        runs.append(run := _postgres_run(postgres_cluster, tmp_path / f"run-{attempt}"))
        _case(run, _restart(postgres_cluster), "store-restart", "immediate", everything=False).check()


@pytest.mark.parametrize("synchronous", ["FULL", pytest.param("NORMAL", marks=pytest.mark.faults_full)])
def test_sqlite_every_process_killed_at_once(synchronous: str, tmp_path: Path, runs: list[StoreRun]) -> None:
    for attempt in range(repeats()):
        path = tmp_path / f"run-{attempt}"
        runs.append(run := StoreRun(path, f"sqlite:///{path}/jobs.db?synchronous={synchronous}"))
        _case(run, _kill_and_check, "all-killed", synchronous.lower(), everything=True).check()


@pytest.mark.faults_full
@pytest.mark.parametrize("redis_store", ["always"], indirect=True)
def test_redis_everything_killed_at_once(
    redis_store: RedisStore, tmp_path: Path, runs: list[StoreRun]
) -> None:
    for attempt in range(repeats()):
        redis_store.client().flushall()
        runs.append(run := StoreRun(tmp_path / f"run-{attempt}", redis_store.url))
        _case(run, _kill_everything(redis_store), "all-killed", redis_store.mode, everything=True).check()


@pytest.mark.faults_full
def test_postgres_everything_killed_at_once(
    postgres_cluster: PostgresCluster, tmp_path: Path, runs: list[StoreRun]
) -> None:
    for attempt in range(repeats()):
        runs.append(run := _postgres_run(postgres_cluster, tmp_path / f"run-{attempt}"))
        _case(run, _kill_everything(postgres_cluster), "all-killed", "immediate", everything=True).check()


def _cluster_run(store: ClusterStore, path: Path) -> StoreRun:
    with store.client() as client:
        client.flushall()  # every master's
    return StoreRun(path, store.url)


@pytest.mark.parametrize("cluster_store", REDIS_PARAMS, indirect=True)
def test_cluster_queue_node_killed_and_restarted_under_running_workers(
    cluster_store: ClusterStore, tmp_path: Path, runs: list[StoreRun]
) -> None:
    for attempt in range(repeats()):
        runs.append(run := _cluster_run(cluster_store, tmp_path / f"run-{attempt}"))
        fault = _restart_queue_node(cluster_store)
        result = _case(run, fault, "node-restart", cluster_store.mode, everything=False)
        result.check(may_lose=MAY_LOSE[cluster_store.mode])


@pytest.mark.faults_full
@pytest.mark.parametrize("cluster_store", ["always"], indirect=True)
def test_cluster_every_node_killed_and_restarted_under_running_workers(
    cluster_store: ClusterStore, tmp_path: Path, runs: list[StoreRun]
) -> None:
    for attempt in range(repeats()):
        runs.append(run := _cluster_run(cluster_store, tmp_path / f"run-{attempt}"))
        _case(run, _restart(cluster_store), "store-restart", cluster_store.mode, everything=False).check()


@pytest.mark.faults_full
@pytest.mark.parametrize("cluster_store", ["always"], indirect=True)
def test_cluster_everything_killed_at_once(
    cluster_store: ClusterStore, tmp_path: Path, runs: list[StoreRun]
) -> None:
    for attempt in range(repeats()):
        runs.append(run := _cluster_run(cluster_store, tmp_path / f"run-{attempt}"))
        _case(run, _kill_everything(cluster_store), "all-killed", cluster_store.mode, everything=True).check()
