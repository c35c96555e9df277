"""Shared fixtures: one URL factory per backend, so every contract and worker test runs on each.

A backend whose service is unreachable is skipped with the reason, except under CI=true, where a
missing service is a failure.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

import taskheap
from taskheap.clock import FixedClock
from tests.postgres_support import postgres_url
from tests.redis_support import redis_cluster_url, redis_url

IN_CI = os.environ.get("CI", "").lower() == "true"


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/jobs.db"


URL_FACTORIES: dict[str, Callable[[Path], str]] = {
    "sqlite": sqlite_url,
    "redis": redis_url,
    "redis-cluster": redis_cluster_url,
    "postgres": postgres_url,
}


def unavailable(reason: str) -> NoReturn:
    """Skip on a laptop without the service; fail in CI, where every service must be up."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's hook reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fault cases run one at a time, on one xdist worker (`--dist loadgroup`): each drives
    several worker processes against deadlines (leases, recovery times, the prefetch window),
    and two of them at once on a 2-core machine would measure each other's load
    (tests/unit/test_suite_groups.py checks that pytest-xdist keeps the group)."""
    for item in items:
        if item.get_closest_marker("faults"):
            item.add_marker(pytest.mark.xdist_group("faults"))


@pytest.fixture(params=sorted(URL_FACTORIES))
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return URL_FACTORIES[request.param](tmp_path)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def app(backend_url: str, clock: FixedClock) -> Iterator[taskheap.App]:
    application = taskheap.App(backend_url, lease=30.0, clock=clock)
    yield application
    application.close()


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Poll a condition; the tests never sleep for a fixed time and hope."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.01)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
