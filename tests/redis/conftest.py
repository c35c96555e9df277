"""A migrated RedisBackend under a key prefix of its own, for the Redis-only tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskheap.backends.redis import RedisBackend

from ..redis_support import redis_url


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[RedisBackend]:
    store = RedisBackend(redis_url(tmp_path))
    store.migrate()
    yield store
    store.close()
