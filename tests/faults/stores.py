"""Private stores the fault suite may kill: a redis-server, a Redis Cluster and PostgreSQL
clusters of its own.

Never the shared servers on 6379 / 5432 nor the suite's shared Redis Cluster: other people's
tests run on those. Each store lives in a temporary directory of its own, on loopback ports that
stay the same across a restart (the workers reconnect to the URL they were started with); they
come from tests/ports.py, below the ephemeral range, so no outgoing connection takes one while
the store is down. A port is free when chosen, but a process that does not take its ports from
there can still bind it first: a first start that fails tries new ports (as tests/redis_support.py
does for the shared cluster); a restart keeps them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Generic, LiteralString, TypeVar

import psycopg
import redis

from taskheap.backends.redis.client import DEFAULT_PREFIX
from tests.ports import free_port
from tests.redis_support import OwnCluster, OwnRedis

ATTEMPTS = 3  # first starts, on new ports each

#: Redis durability modes: the AOF and RDB settings, by the name the cases report.
REDIS_MODES: dict[str, tuple[str, ...]] = {
    "always": ("--appendonly", "yes", "--appendfsync", "always", "--save", ""),
    "everysec": ("--appendonly", "yes", "--appendfsync", "everysec", "--save", ""),
    "rdb": ("--appendonly", "no", "--save", "1 1"),
}
DURABLE_MODES = ("always", "everysec", "rdb")

Server = TypeVar("Server", OwnRedis, OwnCluster)


class _PrivateRedis(ABC, Generic[Server]):
    """What RedisStore and ClusterStore share: a durability mode, a directory of their own, a
    first start on free ports (new ones if it fails), SIGKILL, a start again on the same ports
    and files, and the removal of the directory at `close()`."""

    kind = ""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.directory = Path(tempfile.mkdtemp(prefix=f"taskheap-{self.kind}-{mode}-"))
        self.server: Server | None = None

    @abstractmethod
    def _new(self, options: Sequence[str]) -> Server:
        """A server (not started) in this directory, with these redis-server options."""

    @property
    def url(self) -> str:
        return self._server().url

    def _server(self) -> Server:
        assert self.server is not None, "the store was never started"
        return self.server

    def start(self) -> None:
        if self.server is not None:
            self.server.start()
            return
        problem: Exception | None = None
        for _ in range(ATTEMPTS):
            server = self._new((*REDIS_MODES[self.mode], "--loglevel", "warning"))
            try:
                server.start()
            except (OSError, subprocess.SubprocessError, RuntimeError, AssertionError) as exc:
                problem = exc
                server.crash()
                continue
            self.server = server
            return
        raise RuntimeError(f"cannot start {self.kind} ({self.mode}): {problem}")

    def kill(self) -> None:
        """SIGKILL (every node of a cluster): no shutdown save, no final fsync."""
        self._server().crash()

    def restart(self) -> None:
        self.kill()
        self.start()

    def close(self) -> None:
        if self.server is not None:
            self.server.crash()
        shutil.rmtree(self.directory, ignore_errors=True)


class RedisStore(_PrivateRedis[OwnRedis]):
    """A private redis-server in one durability mode: started, SIGKILLed, started again on the
    same port and directory, and removed with its directory at `close()`."""

    kind = "redis"

    def _new(self, options: Sequence[str]) -> OwnRedis:
        return OwnRedis(self.directory, *options)

    def client(self) -> redis.Redis:
        return self._server().client()

    def used_memory(self) -> int:
        with self.client() as client:
            return int(client.info("memory")["used_memory"])

    def keys(self) -> int:
        with self.client() as client:
            return int(client.dbsize())


class ClusterStore(_PrivateRedis[OwnCluster]):
    """A private three-master Redis Cluster in one durability mode (every node in it): started,
    its nodes SIGKILLed (one, or every one) and started again on the same ports and files, which
    re-form the cluster by themselves; `start` returns once every node says cluster_state:ok."""

    kind = "redis-cluster"

    def _new(self, options: Sequence[str]) -> OwnCluster:
        return OwnCluster(self.directory, options=options)

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(host="127.0.0.1", port=self._server().nodes[0].port, decode_responses=True)

    def node_of_queue(self, queue: str = "default", prefix: str = DEFAULT_PREFIX) -> OwnRedis:
        """The node holding the queue's keys (their hash tag is `{<prefix>:<queue>}`)."""
        return self._server().node_of(f"{{{prefix}:{queue}}}")

    def restart_node(self, node: OwnRedis) -> None:
        """SIGKILL one node and start it again, until every node says cluster_state:ok."""
        self._server().restart([node])


def _postgres_bin() -> Path | None:
    """The directory of initdb and pg_ctl: the newest installed major version's."""
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if installed:
        return installed[-1].parent
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def postgres_missing() -> str | None:
    """None if a private cluster can be made here, else why not."""
    if _postgres_bin() is None:
        return "pg_ctl and initdb are not installed: no private PostgreSQL cluster"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: initdb cannot run as the postgres user"
    return None


class PostgresCluster:
    """A private PostgreSQL cluster: initdb'd with trust auth, run with `pg_ctl` on a loopback
    port with its socket in its own directory, stopped `-m immediate` (a crash: no checkpoint,
    recovery from the WAL at the next start) and started again; removed at `close()`.

    As root, every server command runs as the `postgres` OS user (the server refuses root), and
    the directory is theirs.
    """

    def __init__(self) -> None:
        bin_dir = _postgres_bin()
        assert bin_dir is not None, postgres_missing()
        self.bin = bin_dir
        self.directory = Path(tempfile.mkdtemp(prefix="taskheap-postgres-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self.port = 0
        self.running = False
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}{log}")

    def start(self) -> None:
        if self.port:
            self._start()
            return
        problem: Exception | None = None
        for _ in range(ATTEMPTS):
            self.port = free_port()
            try:
                self._start()
                return
            except RuntimeError as exc:
                problem = exc
        self.port = 0
        raise RuntimeError(f"cannot start a private PostgreSQL cluster: {problem}")

    def _start(self) -> None:
        server_options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
            " -c max_connections=200 -c fsync=on -c synchronous_commit=on"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            server_options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self.running = True

    def kill(self) -> None:
        """`pg_ctl stop -m immediate`: every server process quits at once, nothing is flushed."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.running = False

    def restart(self) -> None:
        self.kill()
        self.start()

    def query(self, statement: LiteralString, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, connect_timeout=5, autocommit=True) as conn:
            return conn.execute(statement, params or None).fetchall()

    def relations_size(self, schema: str = "taskheap") -> int:
        """Bytes of every table in the schema, with its indexes and TOAST."""
        rows = self.query(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
            schema,
        )
        return int(rows[0][0])

    def close(self) -> None:
        try:
            self.kill()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
