"""The connection to Redis: the URL, the client and its pool, the error guard around every
backend call, and the Lua scripts (lua/, with lib.lua prepended) sent by SHA in batches."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from hashlib import sha1
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis import BlockingConnectionPool, Redis
from redis.backoff import ExponentialBackoff
from redis.client import Pipeline
from redis.cluster import ClusterPipeline, RedisCluster
from redis.exceptions import ClusterDownError, NoScriptError, RedisClusterException, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from ...errors import BackendError, ConfigError, StoreUnreachable

Client = Redis | RedisCluster
Commands = Client | Pipeline | ClusterPipeline  # where a command goes: now, or in a round trip
DEFAULT_PREFIX = "taskheap"
SOCKET_TIMEOUT = 10.0  # the longest one reply may take (`?socket_timeout=` in the URL overrides)
_SCRIPT_DIR = Path(__file__).with_name("lua")


class Script:
    """A Lua script with the shared helpers of lib.lua prepended."""

    def __init__(self, name: str, lib: str) -> None:
        self.name = name
        self.source = lib + (_SCRIPT_DIR / f"{name}.lua").read_text()
        self.sha = sha1(self.source.encode()).hexdigest()

    def __call__(self, client: Client, keys: Sequence[str], args: Sequence[str]) -> Any:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            client.script_load(self.source)
            return client.evalsha(self.sha, len(keys), *keys, *args)


class Scripts:
    """Every script, read from lua/ once per backend."""

    def __init__(self) -> None:
        lib = (_SCRIPT_DIR / "lib.lua").read_text()
        self.ingest = Script("ingest", lib)
        self.enqueue = Script("enqueue", lib)
        self.enqueue_unique = Script("enqueue_unique", lib)
        self.claim = Script("claim", lib)
        self.extend = Script("extend", lib)
        self.complete = Script("complete", lib)
        self.fail = Script("fail", lib)
        self.release = Script("release", lib)
        self.postpone = Script("postpone", lib)
        self.cancel_claimed = Script("cancel_claimed", lib)
        self.promote = Script("promote", lib)
        self.expired = Script("expired", lib)
        self.expire_due = Script("expire_due", lib)
        self.prune = Script("prune", lib)
        self.purge = Script("purge", lib)
        self.replay = Script("replay", lib)
        self.cancel = Script("cancel", lib)
        self.progress = Script("progress", lib)
        self.register = Script("register", lib)
        self.workers = Script("workers", lib)
        self.forget_workers = Script("forget_workers", lib)
        self.record_minutes = Script("record_minutes", lib)
        self.minutes = Script("minutes", lib)
        self.forget_minutes = Script("forget_minutes", lib)
        self.resume = Script("resume", lib)
        self.unreadable = Script("unreadable", lib)
        self.queue_load = Script("queue_load", lib)

    def all(self) -> list[Script]:
        return [s for s in vars(self).values() if isinstance(s, Script)]


class Batch:
    """Commands sent in one round trip. A script the server has forgotten (NOSCRIPT, after a
    restart) is loaded and that one command run again; any other error is raised."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.pipe = client.pipeline(transaction=False)
        self._scripts: dict[int, tuple[Script, Sequence[str], Sequence[str]]] = {}

    def script(self, script: Script, keys: Sequence[str], args: Sequence[str]) -> None:
        self._scripts[len(self.pipe)] = (script, keys, args)
        # what `evalsha` sends, which redis-py's cluster pipeline refuses to queue: it routes
        # EVALSHA by its keys like any keyed command
        self.pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)

    def run(self) -> list[Any]:
        results: list[Any] = self.pipe.execute(raise_on_error=False)
        for index, result in enumerate(results):
            if isinstance(result, NoScriptError):
                script, keys, args = self._scripts[index]
                results[index] = script(self.client, keys, args)
            elif isinstance(result, Exception):
                raise result
        return results


class Guard:
    """Around every backend call: Redis errors become BackendErrors naming the server. (A class:
    a generator-based context manager costs microseconds on each enqueue.)"""

    __slots__ = ("display_url",)

    def __init__(self, display_url: str) -> None:
        self.display_url = display_url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if _unreachable(exc):
            raise StoreUnreachable(f"cannot reach Redis at {self.display_url}: {exc}") from None
        if isinstance(
            exc, RedisError | RedisClusterException
        ):  # the cluster client's own are not RedisErrors
            raise BackendError(f"Redis at {self.display_url}: {exc}") from None


def _unreachable(exc: BaseException | None) -> bool:
    """Whether the error says the store cannot serve now: a connection that failed or timed out,
    a Cluster that is down (CLUSTERDOWN: a master restarting, say), or the Cluster client's
    "cannot be connected" (raised from the connection error of every node it tried)."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | ClusterDownError):
        return True
    return isinstance(exc, RedisClusterException) and isinstance(
        exc.__cause__, RedisConnectionError | RedisTimeoutError
    )


def parse_url(url: str) -> tuple[str, str, bool]:
    """`redis[s]://host:port/db?prefix=NAME&cluster=true` or `redis+cluster://…` ->
    (the URL for redis-py, the key prefix, cluster mode)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {key: value for key, value in query if key in ("prefix", "cluster")}
    prefix = ours.get("prefix", DEFAULT_PREFIX)
    if not prefix:
        raise ConfigError(f"bad Redis URL {url!r}: prefix must not be empty")
    cluster = parts.scheme == "redis+cluster" or ours.get("cluster", "").lower() in ("1", "true", "yes")
    scheme = "redis" if parts.scheme == "redis+cluster" else parts.scheme
    rest = urlencode([(key, value) for key, value in query if key not in ours])
    return urlunsplit((scheme, parts.netloc, parts.path, rest, parts.fragment)), prefix, cluster


#: TCP keepalive probes after 5 s idle, every 2 s, 3 unanswered: where the platform names them.
_KEEPALIVE = {
    option: value
    for name, value in (("TCP_KEEPIDLE", 5), ("TCP_KEEPINTVL", 2), ("TCP_KEEPCNT", 3))
    if (option := getattr(socket, name, None)) is not None
}


def connect(client_url: str, cluster: bool) -> Client:
    """A client over a per-process pool. Standalone, the pool is bounded and a thread waits for a
    free connection (`?max_connections=` in the URL overrides the default)."""
    options: dict[str, Any] = {
        "decode_responses": True,
        # a byte that is not UTF-8 (written straight into the store by someone else) reads as a
        # surrogate instead of failing the whole reply: the job holding it is refused above the
        # seam ("undecodable"), its neighbours are not
        "encoding_errors": "surrogateescape",
        # a refused or reset connection is tried again at once on a new one, for about a second
        # in all; a call that ran out of time is not: each try would wait out the socket timeout
        # again (seven tries held a call for 70 s), so a silent server costs one timeout
        "retry": Retry(
            ExponentialBackoff(cap=0.25, base=0.01), retries=3, supported_errors=(RedisConnectionError,)
        ),
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_keepalive": True,  # a server gone silent shows on idle connections too, within
        "socket_keepalive_options": _KEEPALIVE,  # about 11 s (the OS default waits two hours)
        "socket_connect_timeout": 5.0,
    }
    if cluster:
        return RedisCluster.from_url(client_url, **options)
    pool = BlockingConnectionPool.from_url(client_url, max_connections=50, timeout=20.0, **options)
    return Redis(connection_pool=pool)
