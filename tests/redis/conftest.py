"""A migrated RedisBackend under a key prefix of its own, for the Redis-only tests: on the shared
Redis and on the test process's own Redis Cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskheap.backends.redis import RedisBackend

from ..conftest import URL_FACTORIES


@pytest.fixture(params=["redis", "redis-cluster"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisBackend]:
    store = RedisBackend(URL_FACTORIES[request.param](tmp_path))
    store.migrate()
    yield store
    store.close()
