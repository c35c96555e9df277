"""The Redis URL factories, and redis-server processes of the tests' own.

`redis_url`: a reachable Redis and a key prefix of the test's own. Each URL gets a fresh
`th-test-<uuid>` prefix, so tests share one Redis without seeing each other's jobs; the keys of
every prefix handed out are deleted when the test process exits.

`redis_cluster_url`: the same on a Redis Cluster of three masters on loopback, which this process
(each xdist worker: one cluster per worker) starts on first use and kills when it exits (nothing
to sweep: the cluster goes with it).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path

import redis

from tests.ports import free_port

DEFAULT_URL = "redis://127.0.0.1:6379/0"
PREFIX = "th-test-"  # and a uuid: every URL's key prefix of its own


class _Sweeper:
    """Deletes the keys of the prefixes handed out, once, at exit: one SCAN of each server's
    keyspace for them all (a SCAN reads the whole keyspace, which on a shared Redis may hold
    millions of other runs' keys: once per prefix would take hours)."""

    def __init__(self) -> None:
        self.prefixes: dict[str, set[str]] = {}
        atexit.register(self.sweep)

    def add(self, base_url: str, prefix: str) -> None:
        self.prefixes.setdefault(base_url, set()).add(prefix)

    def sweep(self) -> None:
        for base_url, prefixes in self.prefixes.items():
            client = redis.Redis.from_url(base_url, decode_responses=True)
            try:
                # the global keys are "{prefix}:…", a queue's "{prefix:queue}:…"
                ours = [
                    key
                    for key in client.scan_iter(match=f"{{{PREFIX}*", count=10_000)
                    if key[1:].partition("}")[0].partition(":")[0] in prefixes
                ]
                for start in range(0, len(ours), 1000):
                    client.delete(*ours[start : start + 1000])
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
    prefix = f"{PREFIX}{uuid.uuid4().hex}"
    _sweeper.add(base, prefix)
    return _with_prefix(base, prefix)


def redis_cluster_url(tmp_path: Path) -> str:
    cluster = _cluster()
    if isinstance(cluster, str):
        from tests.conftest import unavailable  # here: conftest imports this module

        unavailable(cluster)
    return _with_prefix(cluster.url, f"{PREFIX}{uuid.uuid4().hex}")


def _with_prefix(url: str, prefix: str) -> str:
    """The URL with a key prefix of its own, whose connections are named after it too (redis-py
    sends CLIENT SETNAME): CLIENT LIST tells the test's clients from other runs' on one Redis."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}prefix={prefix}&client_name={prefix}"


DURABLE = ("--appendonly", "yes", "--appendfsync", "always", "--save", "")


class OwnRedis:
    """A redis-server subprocess on a loopback port, which can be killed and started again (same
    data directory)."""

    def __init__(self, directory: Path, *options: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.args = [
            "redis-server",
            *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory)),
            *options,
        ]
        self.log = directory / f"redis-server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from tests.conftest import wait_for  # here: conftest imports this module

        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._answers, timeout=10, what=f"redis-server on port {self.port}")

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=0.2, decode_responses=True)

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            log = self.log.read_text(errors="replace").strip().splitlines()[-1:]
            raise RuntimeError(f"redis-server on port {self.port} exited: {' '.join(log)}")
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def crash(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        self.crash()
        self.start()


def own_redis(directory: Path, *options: str) -> Iterator[OwnRedis]:
    """A started durable redis-server of the test's own (more redis-server options may follow),
    killed when the generator resumes; a skip (a failure under CI=true) without redis-server."""
    from tests.conftest import unavailable  # here: conftest imports this module

    if shutil.which("redis-server") is None:
        unavailable("redis-server is not on PATH")
    server = OwnRedis(directory, *DURABLE, *options)
    server.start()
    yield server
    server.crash()


NO_PERSISTENCE = ("--save", "", "--appendonly", "no")


class OwnCluster:
    """A Redis Cluster of `masters` redis-server processes on loopback, no replicas; no
    persistence unless `options` (redis-server's) ask for some.

    Its nodes can be SIGKILLed and started again on the same ports and files, each node's own
    (nodes-<port>.conf, dump-<port>.rdb, appendonlydir-<port>): the cluster re-forms by itself.
    """

    def __init__(self, directory: Path, masters: int = 3, options: Sequence[str] = NO_PERSISTENCE) -> None:
        self.directory = directory
        self.nodes = [self._node(free_port(), options) for _ in range(masters)]
        self.url = f"redis+cluster://127.0.0.1:{self.nodes[0].port}"
        self.created = False

    def _node(self, port: int, options: Sequence[str]) -> OwnRedis:
        return OwnRedis(
            self.directory,
            *("--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"),
            *("--cluster-port", str(free_port())),
            *("--dbfilename", f"dump-{port}.rdb", "--appenddirname", f"appendonlydir-{port}"),
            *options,
            port=port,
        )

    def start(self) -> None:
        """Start every node that is not running (the first time, and make them a cluster), then
        wait until every node says cluster_state:ok."""
        from tests.conftest import wait_for  # here: conftest imports this module

        for node in self.nodes:
            if not node.running():
                node.start()
        if not self.created:
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            no_replicas = ("--cluster-replicas", "0", "--cluster-yes")
            create = ["redis-cli", "--cluster", "create", *addresses, *no_replicas]
            done = subprocess.run(create, capture_output=True, text=True, timeout=60)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(create)} failed:\n{done.stdout}{done.stderr}")
            self.created = True
        wait_for(self._ok, timeout=30, what="cluster_state:ok on every node")

    def _ok(self) -> bool:
        return all(self._state(node) == "ok" for node in self.nodes)

    @staticmethod
    def _state(node: OwnRedis) -> object:
        try:
            with node.client() as client:
                return client.cluster("INFO").get("cluster_state")
        except redis.RedisError as exc:  # a node started again may still be loading its data
            return exc

    def node_of(self, key: str) -> OwnRedis:
        """The master serving `key`'s slot (CLUSTER KEYSLOT, then CLUSTER SLOTS)."""
        with self.nodes[0].client() as client:
            slot = int(client.execute_command("CLUSTER KEYSLOT", key))
            ranges = client.execute_command("CLUSTER SLOTS")
        ports = [int(master[1]) for first, last, master, *_ in ranges if int(first) <= slot <= int(last)]
        return next(node for node in self.nodes if [node.port] == ports)

    def crash(self, nodes: Sequence[OwnRedis] | None = None) -> None:
        """SIGKILL these nodes (every one by default): no shutdown save, no final fsync."""
        for node in self.nodes if nodes is None else nodes:
            node.crash()

    def restart(self, nodes: Sequence[OwnRedis] | None = None) -> None:
        """SIGKILL these nodes (every one by default) and start them again (`start`)."""
        self.crash(nodes)
        self.start()

    def stop(self) -> None:
        self.crash()
        shutil.rmtree(self.directory, ignore_errors=True)


@cache
def _cluster() -> OwnCluster | str:
    """This process's cluster, started on first use and killed at exit; or why there is none."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        return "redis-server and redis-cli are not on PATH: no Redis Cluster to test on"
    problem = ""
    for _ in range(3):  # a port can be bound by another program before redis-server: new ports, again
        cluster = OwnCluster(Path(tempfile.mkdtemp(prefix="taskheap-cluster-")))
        atexit.register(cluster.stop)
        try:
            cluster.start()
            return cluster
        except (OSError, subprocess.SubprocessError, RuntimeError, AssertionError) as exc:
            problem = f"cannot start a Redis Cluster: {exc}"
            cluster.stop()
    return problem
