"""The loopback proxy itself: each fault does what the partition cases rely on, on a real Redis
(and PostgreSQL passes through); and one serving a listener in a network namespace of the
test's own (tests/faults/netns.py), as the Cluster's partition cases use it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis

from tests.conftest import unique, wait_for
from tests.faults.netns import Namespace
from tests.faults.proxy import Proxy
from tests.postgres_support import postgres_url
from tests.redis_support import redis_url

pytestmark = pytest.mark.faults


@pytest.fixture
def server(tmp_path: Path) -> str:
    return redis_url(tmp_path).partition("?")[0]


@pytest.fixture
def proxy(server: str) -> Iterator[Proxy]:
    with Proxy.to(server) as proxy:
        yield proxy


def client(url: str, timeout: float = 0.5, name: str | None = None) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=timeout, retry=None, client_name=name)


def raw(proxy: Proxy) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=0.3)
    return sock


def names(server: str) -> set[str]:
    with client(server, timeout=5) as direct:
        return {entry["name"] for entry in direct.client_list()}


def test_pass_forwards_both_ways(server: str, proxy: Proxy) -> None:
    key = unique("proxy")
    with client(proxy.url(server)) as through:
        through.set(key, "v", ex=60)
        assert through.get(key) == b"v"
    with client(server) as direct:
        assert direct.get(key) == b"v", "it went to the server"


def test_a_blackhole_forwards_nothing_and_keeps_the_bytes_for_the_heal(server: str, proxy: Proxy) -> None:
    sock = raw(proxy)
    sock.sendall(b"PING\r\n")
    assert sock.recv(64) == b"+PONG\r\n"
    proxy.blackhole()
    sock.sendall(b"PING\r\n")
    with pytest.raises(TimeoutError):
        sock.recv(64)
    late = raw(proxy)  # accepted, silent
    late.sendall(b"PING\r\n")
    with pytest.raises(TimeoutError):
        late.recv(64)
    with client(proxy.url(server)) as fresh, pytest.raises(redis.TimeoutError):
        fresh.ping()
    proxy.heal()
    sock.settimeout(5)
    late.settimeout(5)
    assert sock.recv(64) == b"+PONG\r\n", "what TCP held in the partition arrives at the heal"
    assert late.recv(64) == b"+PONG\r\n"
    sock.close()
    late.close()


def test_half_open_closes_the_server_side_and_leaves_the_client_silent(server: str, proxy: Proxy) -> None:
    name = unique("half-open")
    through = client(proxy.url(server), name=name)
    assert through.ping()
    assert name in names(server)
    proxy.half_open()
    wait_for(lambda: name not in names(server), timeout=5, what="the server to forget the connection")
    with pytest.raises(redis.TimeoutError):
        through.ping()  # its connection is still open, and silent
    assert through.ping(), "a new connection works"
    through.close()


def test_latency_delays_each_direction(server: str, proxy: Proxy) -> None:
    with client(proxy.url(server), timeout=5) as through:
        through.ping()
        proxy.latency(0.3, 0.1)
        sent = time.monotonic()
        through.ping()
        assert time.monotonic() - sent >= 0.6
        proxy.heal()
        sent = time.monotonic()
        through.ping()
        assert time.monotonic() - sent < 0.3


def test_resets_end_connections_with_rst(server: str, proxy: Proxy) -> None:
    with client(proxy.url(server), timeout=5) as through:
        through.ping()
        proxy.resets(1.0)
        with pytest.raises(redis.ConnectionError, match="reset"):
            through.ping()
        assert proxy.resets_sent == 1
        proxy.resets(0.0)
        assert through.ping()


def test_closing_the_proxy_closes_its_connections(proxy: Proxy) -> None:
    sock = raw(proxy)
    sock.sendall(b"PING\r\n")
    assert sock.recv(64) == b"+PONG\r\n"
    proxy.close()
    sock.settimeout(5)
    with contextlib.suppress(ConnectionResetError):
        assert sock.recv(64) == b""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1)
    sock.close()


def test_postgresql_passes_through(tmp_path: Path) -> None:
    url = postgres_url(tmp_path).partition("?")[0]
    with Proxy.to(url) as proxy, psycopg.connect(proxy.url(url), connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert proxy.accepted == 1


#: run in the namespace: its PID, then what 127.0.0.1:<argv[1]> answers to a PING (or the error)
PING_FROM_INSIDE = """
import os, socket, sys
print(os.getpid())
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as sock:
        sock.sendall(b"PING\\r\\n")
        print(sock.recv(64))
except OSError as exc:
    print(type(exc).__name__)
"""


def ping_from_inside(namespace: Namespace, port: int) -> str:
    """What a PING to 127.0.0.1:port gets from a process in the namespace (which keeps its PID:
    `ip netns exec` execs it)."""
    command = [*namespace.exec_prefix(), sys.executable, "-c", PING_FROM_INSIDE, str(port)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    out, _ = child.communicate(timeout=30)
    pid, answer = out.split()
    assert int(pid) == child.pid
    return answer


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    made = Namespace()
    yield made
    made.delete()


def test_a_proxy_in_a_namespace_answers_for_the_server_at_its_own_address(
    server: str, namespace: Namespace
) -> None:
    port = urlsplit(server).port
    assert port is not None
    assert ping_from_inside(namespace, port) == "ConnectionRefusedError", (
        "the namespace's loopback is its own"
    )
    with Proxy(port, listener=namespace.listener(port)) as proxy:
        assert ping_from_inside(namespace, port) == repr(b"+PONG\r\n")
        assert proxy.accepted == 1
    assert ping_from_inside(namespace, port) == "ConnectionRefusedError"
    namespace.delete()
    assert not os.path.exists(f"/run/netns/{namespace.name}")
