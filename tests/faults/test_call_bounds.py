"""How long one backend call can wait on a store that went silent, through the loopback proxy:
a Redis call costs one socket timeout (no retry of a timed-out call), a blocking wait is never
cut by the socket timeout, a PostgreSQL call ends at the URL's deadline, and after a half-open
outage the next call runs on a fresh connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from taskheap import StoreUnreachable
from taskheap.backends import open_backend
from taskheap.backends.protocols import FullBackend
from tests.conftest import wait_for
from tests.faults.proxy import Proxy
from tests.postgres_support import postgres_url
from tests.redis_support import redis_url

pytestmark = pytest.mark.faults

T = TypeVar("T")
TIMEOUT = 1.0  # the socket timeout / deadline the URLs below set


Through = Callable[[list[Proxy], Path], tuple[FullBackend, Proxy]]


def redis_through(proxies: list[Proxy], tmp_path: Path) -> tuple[FullBackend, Proxy]:
    url = redis_url(tmp_path)
    proxies.append(proxy := Proxy.to(url))
    return open_backend(proxy.url(url) + f"&socket_timeout={TIMEOUT:g}"), proxy


def postgres_through(proxies: list[Proxy], tmp_path: Path) -> tuple[FullBackend, Proxy]:
    url = postgres_url(tmp_path)
    proxies.append(proxy := Proxy.to(url))
    return open_backend(proxy.url(url) + f"&deadline={TIMEOUT:g}"), proxy


@pytest.fixture
def proxies() -> Iterator[list[Proxy]]:
    """The proxies a test made, closed after it."""
    made: list[Proxy] = []
    yield made
    for proxy in made:
        proxy.close()


def timed(call: Callable[[], T], limit: float) -> tuple[float, T | BaseException]:
    """Run `call` in a thread (it may hang for good): seconds it took and its result or error;
    AssertionError if it is still running after `limit` seconds."""
    outcome: list[T | BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_for(lambda: outcome, timeout=limit, what="the call to end")
    return time.monotonic() - started, outcome[0]


@pytest.mark.parametrize("through", [redis_through, postgres_through], ids=["redis", "postgres"])
def test_a_call_to_a_silent_store_ends_after_one_timeout_and_the_next_after_the_heal_works(
    through: Through, proxies: list[Proxy], tmp_path: Path
) -> None:
    backend, proxy = through(proxies, tmp_path)
    backend.migrate()
    assert backend.promote_due() == 0
    proxy.blackhole()
    took, outcome = timed(backend.promote_due, limit=10 * TIMEOUT)
    assert isinstance(outcome, StoreUnreachable), outcome
    assert TIMEOUT * 0.9 <= took < 2.5 * TIMEOUT, f"one timeout, not one per retry: {took:.1f}s"
    proxy.heal()
    took, outcome = timed(backend.promote_due, limit=10 * TIMEOUT)
    assert outcome == 0 and took < TIMEOUT
    backend.close()


@pytest.mark.parametrize("through", [redis_through, postgres_through], ids=["redis", "postgres"])
def test_after_a_half_open_outage_the_broken_connections_are_replaced(
    through: Through, proxies: list[Proxy], tmp_path: Path
) -> None:
    """Every connection the backend holds goes half-open (the server forgot them): one call
    waits out its timeout, then the backend works on new connections, with no wait apiece."""
    backend, proxy = through(proxies, tmp_path)
    backend.migrate()
    threads = [threading.Thread(target=backend.promote_due) for _ in range(4)]  # several connections
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    opened = proxy.accepted
    proxy.half_open()
    took, outcome = timed(backend.promote_due, limit=10 * TIMEOUT)
    assert isinstance(outcome, StoreUnreachable), outcome
    assert took < 2.5 * TIMEOUT
    for _ in range(8):  # more calls than connections were open: none may meet a dead one
        took, outcome = timed(backend.promote_due, limit=10 * TIMEOUT)
        assert outcome == 0, outcome
        assert took < TIMEOUT / 2, f"a call waited {took:.1f}s: it met a dead connection"
    assert proxy.accepted > opened
    backend.close()


def test_a_blocking_wait_on_redis_is_never_cut_by_the_socket_timeout(tmp_path: Path) -> None:
    """BLMOVE blocks at most half the socket timeout at a time, so a wait longer than the
    socket timeout ends normally (a BLMOVE of 5 s under a 1 s socket timeout would fail)."""
    backend = open_backend(redis_url(tmp_path) + f"&socket_timeout={TIMEOUT:g}")
    backend.migrate()
    started = time.monotonic()
    backend.wait_for_work(["default"], 3 * TIMEOUT)
    assert time.monotonic() - started >= 3 * TIMEOUT * 0.95
    started = time.monotonic()
    assert backend.wait_and_claim(["default"], "w", 1, 30.0, 3 * TIMEOUT) == []
    assert time.monotonic() - started < 2 * TIMEOUT, "one BLMOVE per call, half the socket timeout"
    backend.close()


def test_a_postgres_wait_for_work_on_a_half_open_listener_ends_and_listens_again(
    proxies: list[Proxy], tmp_path: Path
) -> None:
    backend, proxy = postgres_through(proxies, tmp_path)
    backend.migrate()
    backend.wait_for_work(["default"], 0.1)  # the listener is open
    proxy.half_open()
    took, outcome = timed(lambda: backend.wait_for_work(["default"], 0.1), limit=10 * TIMEOUT)
    assert isinstance(outcome, StoreUnreachable), outcome
    took, outcome = timed(lambda: backend.wait_for_work(["default"], 0.1), limit=10 * TIMEOUT)
    assert outcome is None and took < TIMEOUT, "a new listener"
    backend.close()
