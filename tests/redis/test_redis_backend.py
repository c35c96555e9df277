"""Redis-only behaviour: restarts, paused workers, many concurrent claimers, a down server, config.

Tests that restart or reconfigure Redis run their own `redis-server` on a free loopback port,
with an append-only file fsynced on every write, in the test's directory.
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import taskheap
from taskheap.backends.base import NewJob
from taskheap.backends.redis import RedisBackend
from taskheap.errors import BackendError, StoreUnreachable
from taskheap.job import JobState

from ..blocked import redis_blockers
from ..conftest import unavailable, wait_for
from ..ports import free_port
from ..redis_support import NO_PERSISTENCE, OwnCluster, OwnRedis, own_redis, redis_url
from ..worker.conftest import Lab


@pytest.fixture
def server(tmp_path: Path) -> Iterator[OwnRedis]:
    yield from own_redis(tmp_path)


@pytest.fixture
def shared_url(tmp_path: Path) -> str:
    return redis_url(tmp_path)


def test_workers_reconnect_after_a_redis_restart_and_no_acknowledged_job_is_lost(
    server: OwnRedis, tmp_path: Path
) -> None:
    lab = Lab(tmp_path, server.url, lease=2.0)
    try:
        lab.app.enqueue_many([lab.tasks.record.job(i) for i in range(3000)])
        workers = [lab.worker("--concurrency", "2") for _ in range(2)]
        wait_for(lambda: _runs(lab), what="the workers to start running jobs")
        server.restart()  # SIGKILL: a crash, not a clean shutdown
        assert len(set(_runs(lab))) < 3000, "the restart came mid-run"
        lab.app.enqueue_many([lab.tasks.record.job(i) for i in range(3000, 3100)])
        wait_for(lambda: _succeeded(lab) == 3100, timeout=30, what="every acknowledged job to succeed")
        assert set(_runs(lab)) == {str(i) for i in range(3100)}
        for worker in workers:
            worker.signal(signal.SIGTERM)
            assert worker.wait() == 0, worker.output()
    finally:
        lab.close()


def test_enqueue_while_redis_is_down_raises_instead_of_dropping(server: OwnRedis) -> None:
    app = taskheap.App(server.url)
    echo = app.task(name="echo")(lambda x: x)
    echo.enqueue(1)
    server.crash()
    with pytest.raises(BackendError, match=f"cannot reach Redis at redis://127.0.0.1:{server.port}/0"):
        echo.enqueue(2)
    server.start()
    assert app.stats()["queues"]["default"]["queued"] == 1
    app.close()


@pytest.mark.parametrize(
    ("scheme", "error"),
    [
        ("redis", "cannot reach Redis at redis://127.0.0.1:{port}/0: .*refused"),
        (
            "redis+cluster",
            "cannot reach Redis at redis://127.0.0.1:{port}/0: Redis Cluster cannot be connected.*refused",
        ),
    ],
    ids=["redis", "redis-cluster"],
)
def test_unreachable_redis_is_a_clear_error_at_enqueue(scheme: str, error: str) -> None:
    port = free_port()
    app = taskheap.App(f"{scheme}://127.0.0.1:{port}/0?prefix=nowhere")
    echo = app.task(name="echo")(lambda x: x)
    with pytest.raises(StoreUnreachable, match=error.format(port=port)):
        echo.enqueue(1)


def test_scripts_flushed_from_redis_are_loaded_again(server: OwnRedis) -> None:
    backend = RedisBackend(server.url)
    backend.migrate()
    redis.Redis(port=server.port).script_flush()
    backend.enqueue([_job("a"), _job("b")])
    assert [j.id for j in backend.claim(["default"], "w", 10, 30.0)] == ["a", "b"]
    backend.close()


def test_sigstopped_worker_cannot_overwrite_the_run_that_replaced_it(tmp_path: Path, shared_url: str) -> None:
    lab = Lab(tmp_path, shared_url, lease=1.0)
    try:
        handle = lab.tasks.sleepy.enqueue("stopped", 2.5)
        paused = lab.worker()
        wait_for(lambda: lab.marks("stopped.start"), what="the job to start")
        paused.signal(signal.SIGSTOP)
        replacement = lab.worker("--burst")
        assert replacement.wait() == 0, replacement.output()
        finished = handle.info()
        assert finished.status == JobState.SUCCEEDED and finished.attempts == 2
        assert finished.worker and f":{replacement.proc.pid}:" in finished.worker
        paused.signal(signal.SIGCONT)
        wait_for(lambda: len(lab.marks("stopped.done")) == 2, what="the paused run to finish too")
        wait_for(lambda: "lost the lease" in paused.output(), what="the paused worker to notice")
        assert handle.info() == finished, "the stale run's outcome was refused"
    finally:
        lab.close()


def test_two_hundred_concurrent_claimers_never_share_a_job(shared_url: str) -> None:
    backend = RedisBackend(shared_url)
    backend.migrate()
    backend.enqueue([_job(f"job-{i:05d}") for i in range(4000)])
    claimed: list[str] = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def claimer(worker: str) -> None:
        try:
            while jobs := backend.claim(["default"], worker, 5, 30.0):
                with lock:
                    claimed.extend(job.id for job in jobs)
        except BackendError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    backend.close()
    assert errors == []
    assert len(claimed) == 4000
    assert Counter(claimed).most_common(1)[0][1] == 1


def test_waiting_for_work_on_several_queues_ends_when_any_of_them_gets_a_job(backend: RedisBackend) -> None:
    queues = ["a", "b", "c"]
    started = time.monotonic()
    backend.wait_for_work(queues, 0.2)
    assert time.monotonic() - started > 0.19, "no work: the whole timeout"
    blocked = redis_blockers(backend)
    waiter = threading.Thread(target=backend.wait_for_work, args=(queues, 60.0), daemon=True)
    waiter.start()
    wait_for(blocked, what="the wait to block")
    backend.enqueue([_job("late", queue="c")])
    waiter.join(10.0)
    assert not waiter.is_alive(), "not woken by the enqueue (its timeout is 60 s)"


def codes(url: str) -> set[str]:
    backend = RedisBackend(url)
    try:
        return {check.code for check in backend.self_checks()}
    finally:
        backend.close()


def test_an_evicting_policy_and_no_persistence_are_warned_about(tmp_path: Path) -> None:
    for server in own_redis(
        tmp_path, "--maxmemory-policy", "allkeys-lru", "--appendonly", "no", "--save", ""
    ):
        backend = RedisBackend(server.url)
        (eviction,) = [c for c in backend.self_checks() if c.code == "redis-eviction"]
        assert "maxmemory-policy allkeys-lru" in eviction.message and "noeviction" in eviction.message
        assert "redis-persistence" in codes(server.url)
        backend.close()


def test_noeviction_and_an_append_only_file_are_not_warned_about(tmp_path: Path) -> None:
    for server in own_redis(tmp_path):  # DURABLE: appendonly yes
        assert not {"redis-eviction", "redis-persistence"} & codes(server.url)


def test_a_check_named_in_taskheap_silence_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for server in own_redis(tmp_path, "--appendonly", "no", "--save", ""):
        assert "redis-persistence" in codes(server.url)
        monkeypatch.setenv("TASKHEAP_SILENCE", "redis-lua-cve, redis-persistence")
        assert not {"redis-lua-cve", "redis-persistence"} & codes(server.url)


def _runs(lab: Lab) -> list[str]:
    return [line for log in lab.path.glob("runs-*.log") for line in log.read_text().split()]


def _succeeded(lab: Lab) -> int:
    return int(lab.app.stats()["queues"]["default"]["succeeded"])


def _job(job_id: str, queue: str = "default") -> NewJob:
    return NewJob(job_id, "echo", queue, 5, 5.0, "{}", 1.0, None, 3, None, None)


def test_a_cluster_that_is_down_or_gone_is_an_unreachable_store(tmp_path: Path) -> None:
    """CLUSTERDOWN (a master failed, or is restarting) and "cannot be connected" (every node
    gone) are outages, which the worker says once and waits out, not errors of each call."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        unavailable("redis-server and redis-cli are not on PATH: no Redis Cluster of the test's own")
    cluster = OwnCluster(tmp_path, options=(*NO_PERSISTENCE, "--cluster-node-timeout", "500"))
    try:
        cluster.start()
        backend = RedisBackend(f"{cluster.url}?prefix=down")
        backend.migrate()
        queue = cluster.node_of("{down:default}:inbox")
        cluster.crash([node for node in cluster.nodes if node is not queue][:1])

        def down() -> bool:
            with queue.client() as client:
                return client.cluster("INFO").get("cluster_state") == "fail"

        wait_for(down, timeout=30, what="the cluster to see a master failed")
        job = NewJob("0DOWN", "t", "default", 5, 5.0, "{}", 1.0, None, 0, None, None)
        with pytest.raises(StoreUnreachable, match=r"CLUSTERDOWN|cluster is down"):
            backend.enqueue([job])
        cluster.crash()
        with pytest.raises(StoreUnreachable):
            backend.counts()
        backend.close()
    finally:
        cluster.stop()
