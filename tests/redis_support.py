"""The Redis URL factory: a reachable Redis and a key prefix of the test's own.

Each URL gets a fresh `th-test-<uuid>` prefix, so tests share one Redis without seeing each
other's jobs; the keys of every prefix handed out are deleted when the test process exits.
"""

from __future__ import annotations

import atexit
import os
import uuid
from pathlib import Path

import redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"


class _Sweeper:
    """Deletes the keys of the prefixes handed out, once, at exit."""

    def __init__(self) -> None:
        self.prefixes: list[tuple[str, str]] = []
        atexit.register(self.sweep)

    def add(self, base_url: str, prefix: str) -> None:
        self.prefixes.append((base_url, prefix))

    def sweep(self) -> None:
        for base_url, prefix in self.prefixes:
            client = redis.Redis.from_url(base_url)
            try:
                # the global keys are "{prefix}:…", a queue's "{prefix:queue}:…"
                for pattern in (f"{{{prefix}}}:*", f"{{{prefix}:*"):
                    keys = list(client.scan_iter(match=pattern, count=1000))
                    for start in range(0, len(keys), 1000):
                        client.delete(*keys[start : start + 1000])
            except redis.RedisError:
                pass  # a test-owned Redis that is gone has nothing left to delete
            finally:
                client.close()


_sweeper = _Sweeper()


def reachable(url: str) -> str | None:
    """None if Redis answers at `url`, else why not."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1.0)
    try:
        client.ping()
        return None
    except redis.RedisError as exc:
        return f"Redis is not reachable at {url} (set TASKHEAP_REDIS_URL): {exc}"
    finally:
        client.close()


def redis_url(tmp_path: Path) -> str:
    base = os.environ.get("TASKHEAP_REDIS_URL", DEFAULT_URL)
    problem = reachable(base)
    if problem:
        from tests.conftest import unavailable  # here: conftest imports this module

        unavailable(problem)
    prefix = f"th-test-{uuid.uuid4().hex}"
    _sweeper.add(base, prefix)
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}prefix={prefix}"
