"""Fixtures of the fault suite: `fault_url` (every backend; the Redis Cluster in the full run
only) and `lab`, a FaultLab on it (`make_lab` for another lease)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import URL_FACTORIES, unavailable

from .harness import FaultLab
from .stores import ClusterStore, PostgresCluster, RedisStore, postgres_missing

BACKENDS = ["sqlite", "redis", "postgres", "redis-cluster"]
CI_BACKENDS = ["sqlite", "redis", "postgres"]


def ci_on(*names: str) -> list[Any]:
    """The backends for `@pytest.mark.parametrize("fault_backend", ci_on(...), indirect=True)`:
    these in the CI subset, every other in the full run only (a case whose backend matters
    less runs on one in CI, so that the subset keeps to its time)."""
    return [name if name in names else pytest.param(name, marks=pytest.mark.faults_full) for name in BACKENDS]


FAULT_BACKENDS = ci_on(*CI_BACKENDS)


@pytest.fixture(params=FAULT_BACKENDS)
def fault_backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def fault_url(fault_backend: str, tmp_path: Path) -> str:
    return URL_FACTORIES[fault_backend](tmp_path)


@pytest.fixture
def make_lab(tmp_path: Path, fault_backend: str, fault_url: str) -> Iterator[Callable[..., FaultLab]]:
    """`make_lab(lease=...)`: a FaultLab in a directory of its own, the first on `fault_url`,
    each later one on a fresh store of the same backend (a repeat starts clean); all closed
    (their workers killed) after the test."""
    labs: list[FaultLab] = []

    def make(*, lease: float = 2.0) -> FaultLab:
        path = tmp_path / f"lab-{len(labs)}"
        path.mkdir()
        url = URL_FACTORIES[fault_backend](path) if labs else fault_url
        labs.append(FaultLab(path, url, lease=lease))
        return labs[-1]

    yield make
    for lab in labs:
        lab.close()


@pytest.fixture
def lab(make_lab: Callable[..., FaultLab]) -> FaultLab:
    return make_lab()


@pytest.fixture
def redis_store(request: pytest.FixtureRequest) -> Iterator[RedisStore]:
    """A private redis-server in the durability mode given as the param (stores.REDIS_MODES),
    which the test may kill; removed after the test, pass or fail."""
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not on PATH: no private Redis to kill")
    store = RedisStore(request.param)
    request.addfinalizer(store.close)
    store.start()
    yield store


@pytest.fixture
def cluster_store(request: pytest.FixtureRequest) -> Iterator[ClusterStore]:
    """A private three-master Redis Cluster in the durability mode given as the param, whose
    nodes the test may kill; removed after the test, pass or fail."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        unavailable("redis-server and redis-cli are not on PATH: no private Redis Cluster to kill")
    store = ClusterStore(request.param)
    request.addfinalizer(store.close)
    store.start()
    yield store


@pytest.fixture
def postgres_cluster(request: pytest.FixtureRequest) -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster, started, which the test may stop; removed after it."""
    problem = postgres_missing()
    if problem:
        unavailable(problem)
    cluster = PostgresCluster()
    request.addfinalizer(cluster.close)
    cluster.start()
    yield cluster
