"""Redis backend: one queue shared by workers on many machines; every state change is one Lua script.

Layout. Each queue's keys share the hash tag `{<prefix>:<queue>}` (one Redis Cluster slot): an
inbox list of enqueued jobs not yet ingested, a hash per job, a sorted set of queued jobs scored
by rank (equal ranks run in id order, the member order of equal scores), a sorted set of
scheduled and retrying jobs by due time, of running jobs by lease expiry, of succeeded and
cancelled jobs by finish time (pruning), and one per state in id order (counts are ZCARDs or
ZLEXCOUNTs; listings page through them newest first), and the queue's per-minute outcome
counters. Global keys live under `{<prefix>}`: the id -> queue index (for `get` and `cancel`;
written by ingest, on a Cluster by enqueue), the known queues, the pause flags and the worker
registry. The scripts in `redis_lua/` document their KEYS and ARGV (lib.lua lists a queue's keys).

Choices:
- Enqueue is one RPUSH per queue of the jobs, encoded client-side, onto its inbox: the cost of
  the barest enqueue of any Redis queue, whatever the number of jobs. Ingest (lib.lua, at most
  INGEST_BATCH entries a call, popped and written in one script step) builds the job hashes,
  rank and due sets, state sets, id index, known queues and `enqueued` counters. It runs first
  in every script that reads or changes them (claim, promote, cancel, replay, purge); a claim
  that leaves entries behind claims nothing (one may outrank the queued jobs), so the client
  ingests the rest and claims again. Admin reads ingest their queues to the end first, so they
  see every acknowledged enqueue. A call spanning queues is atomic per queue only (one push
  each, in one pipeline). A producer lists its queue among the known ones on its first push
  and every RELIST_EVERY seconds after (in the same round trip), ingest on every batch.
- Time: `now=None` means the Redis server's clock (TIME inside the script): one clock for every
  worker. Enqueue times and retry times are computed above the seam on the client's clock.
- A lease token is `<n>.<random>@<queue>`: acknowledgements route to their queue's slot with no
  lookup, and a token from an earlier run never matches the job's current one.
- Claim over one queue is one script call. On a queue with nothing queued (an idle worker's
  wake-up), it leases the best fresh jobs as ingest stores them, skipping the queued sets. Over
  several, one round trip ingests the inboxes, one promotes due jobs and peeks at each queue's
  best jobs, then one claim call per queue takes its share of the overall best `limit` (all in
  one pipeline). Under concurrency a share may come back short.
- Idle workers block on the inbox itself: BLMOVE takes its oldest entry into the queue's intake
  list (which ingest reads first), so one enqueued job wakes one worker and nothing is lost if
  that worker dies. Other scripts that make work runnable (release, replay, promote, a claim
  leaving jobs queued, a retry's new due time) push bounded empty markers to wake workers the
  same way. A wait ends no later than the earliest due time. One blocking command waits on one
  list, so a worker serving several queues blocks on each from a thread and connection of its
  own, and the first to wake ends the others' waits (CLIENT UNBLOCK); on Redis Cluster it takes
  turns of CLUSTER_TURN on each instead.
- Retention is enforced by the Pruner over the finished set, not by key TTLs, so counts stay exact
  and dead letters are never evicted.
- Listing merges the id-ordered sets of the queues and states asked for, newest first, within the
  query's id bounds (ZREVRANGEBYLEX): a page reads at most `limit` ids per set (O(log n + limit)),
  then the job hashes. A task filter and a text search read job hashes (a text search only the
  `scan` newest candidates); without them, `count_jobs` is one ZLEXCOUNT per set.
- Per-minute counters live with their queue (its hash tag), so workers of different queues write
  to different Cluster slots; `minutes` reads every known queue's rows in one pipeline. Ingest
  counts the jobs it adds there itself.
- A job's failed attempts are a capped list next to its hash (`job:<id>:failed`), appended by the
  fail script and deleted with the job; listings read them only for the page they return.
- Connection errors are retried with exponential backoff (redis-py Retry); whatever still fails
  is raised as BackendError naming the URL. Scripts forgotten by a restarted Redis are reloaded.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, replace
from hashlib import sha1
from json.encoder import encode_basestring as _quote  # Lua's cjson reads UTF-8 as is
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis import BlockingConnectionPool, Redis
from redis.backoff import ExponentialBackoff
from redis.client import Pipeline
from redis.cluster import ClusterPipeline, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisClusterException, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from ..errors import BackendError, ConfigError
from ..job import ALL_STATES, FAILED_ATTEMPTS_KEPT, REPLAYABLE, FailedAttempt, JobState
from .base import (
    ClaimedJob,
    Completion,
    Counts,
    Failure,
    JobQuery,
    JobRecord,
    Lease,
    MinuteCount,
    NewJob,
    WaitThenClaim,
    WorkerInfo,
)

log = logging.getLogger("taskheap.redis")

Client = Redis | RedisCluster
Commands = Client | Pipeline | ClusterPipeline  # where a command goes: now, or in a round trip
SCHEMA_VERSION = "1"
DEFAULT_PREFIX = "taskheap"
PROMOTE_BATCH = 1000
PAGE = 500
CLAIMED_FIELDS = 10
MIN_BLOCK = 0.001  # BLMOVE's timeout 0 means forever: never block for less than this
MAX_BLOCK = 5.0  # below the socket timeout
CLUSTER_TURN = 0.05
RELIST_EVERY = 60.0  # seconds: how often a producer lists its queues among the known ones again
_SCRIPT_DIR = Path(__file__).with_name("redis_lua")
_COUNTERS = ("completed", "retried", "dead", "enqueued")  # MinuteCount's, as COUNTERS in lib.lua


class _Script:
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


class _Scripts:
    def __init__(self) -> None:
        lib = (_SCRIPT_DIR / "lib.lua").read_text()
        self.ingest = _Script("ingest", lib)
        self.claim = _Script("claim", lib)
        self.extend = _Script("extend", lib)
        self.complete = _Script("complete", lib)
        self.fail = _Script("fail", lib)
        self.release = _Script("release", lib)
        self.promote = _Script("promote", lib)
        self.expired = _Script("expired", lib)
        self.prune = _Script("prune", lib)
        self.purge = _Script("purge", lib)
        self.replay = _Script("replay", lib)
        self.cancel = _Script("cancel", lib)
        self.register = _Script("register", lib)
        self.forget_workers = _Script("forget_workers", lib)
        self.record_minutes = _Script("record_minutes", lib)
        self.minutes = _Script("minutes", lib)
        self.forget_minutes = _Script("forget_minutes", lib)
        self.resume = _Script("resume", lib)

    def all(self) -> list[_Script]:
        return [s for s in vars(self).values() if isinstance(s, _Script)]


class _Batch:
    """Commands sent in one round trip. A script the server has forgotten (NOSCRIPT, after a
    restart) is loaded and that one command run again; any other error is raised."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.pipe = client.pipeline(transaction=False)
        self._scripts: dict[int, tuple[_Script, Sequence[str], Sequence[str]]] = {}

    def script(self, script: _Script, keys: Sequence[str], args: Sequence[str]) -> None:
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


class _Guard:
    """Around every backend call: Redis errors become BackendErrors naming the server. (A class:
    a generator-based context manager costs microseconds on each enqueue.)"""

    __slots__ = ("display_url",)

    def __init__(self, display_url: str) -> None:
        self.display_url = display_url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, RedisConnectionError | RedisTimeoutError):
            raise BackendError(f"cannot reach Redis at {self.display_url}: {exc}") from None
        if isinstance(
            exc, RedisError | RedisClusterException
        ):  # the cluster client's own are not RedisErrors
            raise BackendError(f"Redis at {self.display_url}: {exc}") from None


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


def _display(client_url: str) -> str:
    """The URL without its query and with the password masked, for error messages."""
    parts = urlsplit(client_url)
    netloc = parts.netloc
    if parts.password:
        netloc = netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _connect(client_url: str, cluster: bool) -> Client:
    """A client over a per-process pool. Standalone, the pool is bounded and a thread waits for a
    free connection (`?max_connections=` in the URL overrides the default)."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "retry": Retry(ExponentialBackoff(cap=1.0, base=0.01), retries=6),
        "socket_timeout": 10.0,
        "socket_connect_timeout": 5.0,
    }
    if cluster:
        return RedisCluster.from_url(client_url, **options)
    pool = BlockingConnectionPool.from_url(client_url, max_connections=50, timeout=20.0, **options)
    return Redis(connection_pool=pool)


class RedisBackend(WaitThenClaim):
    def __init__(self, url: str) -> None:
        self.url = url
        client_url, self.prefix, self.cluster = parse_url(url)
        self.display_url = _display(client_url)
        with self._guard():  # a cluster client connects at once, to learn the slots
            self.client: Client = _connect(client_url, self.cluster)
        self.scripts = _Scripts()
        g = f"{{{self.prefix}}}:"
        self._index, self._queues, self._pauses = g + "queue-of", g + "queues", g + "paused"
        self._workers, self._seen, self._version = g + "workers", g + "workers:seen", g + "version"
        self._listed: dict[str, float] = {}  # queue -> when this process last listed it (monotonic)

    def _q(self, queue: str) -> str:
        """The key prefix of one queue: its hash tag keeps all its keys on one Cluster slot."""
        return f"{{{self.prefix}:{queue}}}:"

    def _guard(self) -> _Guard:
        return _Guard(self.display_url)

    def _batch(self) -> _Batch:
        return _Batch(self.client)

    # -- lifecycle ----------------------------------------------------------------------
    def migrate(self) -> None:
        with self._guard():
            self.client.setnx(self._version, SCHEMA_VERSION)
            version = cast(str | None, self.client.get(self._version))
            if version != SCHEMA_VERSION:
                raise BackendError(
                    f"Redis at {self.display_url} prefix {self.prefix!r} holds taskheap schema {version},"
                    f" this version reads {SCHEMA_VERSION}"
                )
            for script in self.scripts.all():
                self.client.script_load(script.source)
            self._warn_if_evicting()

    def _warn_if_evicting(self) -> None:
        try:
            policy = self.client.config_get("maxmemory-policy").get("maxmemory-policy")
        except ResponseError:
            return  # CONFIG is often disabled on managed Redis
        if policy and policy != "noeviction":
            log.warning(
                "Redis at %s has maxmemory-policy %s: under memory pressure it may silently evict"
                " jobs; set maxmemory-policy noeviction",
                self.display_url,
                policy,
            )

    def close(self) -> None:
        self.client.close()
        if isinstance(self.client, Redis):
            self.client.connection_pool.disconnect()

    # -- producers ----------------------------------------------------------------------
    def enqueue(self, jobs: Sequence[NewJob]) -> None:
        """Per queue, one RPUSH appends the encoded jobs to its inbox (ingest moves them into
        place later; the push itself wakes an idle worker). The queue is listed as known in the
        same round trip when this process has not listed it for RELIST_EVERY seconds (ingest
        lists it too). A call spanning queues sends its pushes in one pipeline: each queue's push
        is atomic, not the whole call. On a Cluster the id index lives on another slot: written
        in the same pipeline."""
        if not jobs:
            return
        by_queue = _inbox_entries(jobs)
        with self._guard():
            if len(by_queue) == 1 and not self.cluster:  # the common case: one command
                ((queue, entries),) = by_queue.items()
                if time.monotonic() - self._listed.get(queue, -RELIST_EVERY) < RELIST_EVERY:
                    self.client.rpush(self._q(queue) + "inbox", *entries)
                    return
            pipe = self.client.pipeline(transaction=False)
            if self.cluster:
                pipe.hset(self._index, mapping={j.id: j.queue for j in jobs})
            pipe.sadd(self._queues, *by_queue)
            for queue, entries in by_queue.items():
                pipe.rpush(self._q(queue) + "inbox", *entries)
            pipe.execute()
        self._listed.update(dict.fromkeys(by_queue, time.monotonic()))

    def _queue_keys(self, queue: str) -> list[str]:
        """KEYS of a script that ingests: the queue's prefix, and when standalone the id index and
        the known queues."""
        return [self._q(queue)] if self.cluster else [self._q(queue), self._index, self._queues]

    def _drain(self, queues: Iterable[str]) -> None:
        """Ingest the queues' inboxes to the end, so a read sees every acknowledged enqueue."""
        pending = list(queues)
        while pending:
            batch = self._batch()
            for queue in pending:
                batch.script(self.scripts.ingest, self._queue_keys(queue), [])
            pending = [queue for queue, left in zip(pending, batch.run(), strict=True) if left]

    def _drained_queues(self) -> list[str]:
        """The known queues, their inboxes ingested."""
        queues = self._known_queues()
        self._drain(queues)
        return queues

    # -- workers ------------------------------------------------------------------------
    def claim(
        self, queues: Sequence[str], worker: str, limit: int, lease: float, now: float | None = None
    ) -> list[ClaimedJob]:
        return self.complete_and_claim([], queues, worker, limit, lease, now)[1]

    def complete_and_claim(
        self,
        done: Sequence[Completion],
        queues: Sequence[str],
        worker: str,
        limit: int,
        lease: float,
        now: float | None = None,
    ) -> tuple[list[str], list[ClaimedJob]]:
        """One round trip for one queue: the completions and the claim share a pipeline. Over
        several queues the claim needs the peek round trip of `_shares` first."""
        queues = list(dict.fromkeys(queues))
        if limit <= 0 or not queues:
            return self.complete(done, now), []
        with self._guard():
            shares = {queues[0]: limit} if len(queues) == 1 else self._shares(queues, limit, now)
            claims = _claim_calls(shares, worker, lease, now)
            batch = self._batch()
            self._per_queue(batch, self.scripts.complete, [_num(now)], done)
            acknowledgements = len(batch.pipe)
            self._add_claims(batch, claims)
            results = batch.run()
            jobs = self._claimed_jobs(claims, results[acknowledgements:])
        return [job_id for accepted in results[:acknowledgements] for job_id in accepted], jobs

    def wait_and_claim(
        self, queues: Sequence[str], worker: str, limit: int, lease: float, timeout: float
    ) -> list[ClaimedJob]:
        """One queue on a standalone Redis: the wait (BLMOVE) and the claim share a pipeline, so
        the claim runs on the server the moment work arrives: one round trip from an enqueue to
        a claimed job. Otherwise the two steps."""
        queues = list(dict.fromkeys(queues))
        if len(queues) != 1 or self.cluster or limit <= 0:
            return WaitThenClaim.wait_and_claim(self, queues, worker, limit, lease, timeout)
        with self._guard():
            seconds = self._until_due(queues, timeout)
            claims = _claim_calls({queues[0]: limit}, worker, lease, None)
            batch = self._batch()
            if seconds >= MIN_BLOCK:
                self._take_one(batch.pipe, queues[0], min(seconds, MAX_BLOCK))
            waits = len(batch.pipe)
            self._add_claims(batch, claims)
            return self._claimed_jobs(claims, batch.run()[waits:])

    def _add_claims(self, batch: _Batch, claims: dict[str, list[str]]) -> None:
        for queue, args in claims.items():
            batch.script(self.scripts.claim, self._queue_keys(queue), [*args, _token_suffix(queue)])

    def _claimed_jobs(self, claims: dict[str, list[str]], replies: list[Any]) -> list[ClaimedJob]:
        """The jobs of the claim calls' replies, best first. A queue whose inbox was too long to
        ingest in the call (it claimed nothing) is ingested to the end and claimed again."""
        by_queue = dict(zip(claims, replies, strict=True))
        for queue in [queue for queue, reply in by_queue.items() if reply[0]]:
            self._drain([queue])
            args = [*claims[queue], _token_suffix(queue)]
            by_queue[queue] = self.scripts.claim(self.client, self._queue_keys(queue), args)
        ranked = [row for queue, reply in by_queue.items() for row in _claimed(reply[1:], queue)]
        ranked.sort(key=lambda row: (row[0], row[1].id))
        return [job for _, job in ranked]

    def _shares(self, queues: list[str], limit: int, now: float | None) -> dict[str, int]:
        """How many of the overall best `limit` queued jobs each unpaused queue holds."""
        self._drain(queues)
        batch = self._batch()
        for queue in queues:
            batch.script(self.scripts.promote, self._queue_keys(queue), [_num(now), str(PROMOTE_BATCH)])
            batch.pipe.exists(self._q(queue) + "paused")
            batch.pipe.zrange(self._q(queue) + "queued", 0, limit - 1, withscores=True)
        results = batch.run()
        candidates = [
            (score, job_id, queue)
            for queue, paused, best in zip(queues, results[1::3], results[2::3], strict=True)
            if not paused
            for job_id, score in best
        ]
        return dict(Counter(queue for _, _, queue in heapq.nsmallest(limit, candidates)))

    def heartbeat(
        self, worker: WorkerInfo, leases: Sequence[Lease], lease: float, now: float | None = None
    ) -> set[str]:
        info = asdict(worker)
        del info["last_seen"]
        with self._guard():
            batch = self._batch()
            batch.script(
                self.scripts.register, [self._workers, self._seen], [worker.id, _num(now), json.dumps(info)]
            )
            self._per_queue(batch, self.scripts.extend, [_num(now), repr(float(lease))], leases)
            return {job_id for owned in batch.run()[1:] for job_id in owned}

    def complete(self, done: Sequence[Completion], now: float | None = None) -> list[str]:
        return self._acknowledge(self.scripts.complete, [_num(now)], done)

    def fail(self, failures: Sequence[Failure], now: float | None = None) -> list[str]:
        rows = [(f.id, f.token, f.error, f.traceback or "", _num(f.retry_at)) for f in failures]
        return self._acknowledge(self.scripts.fail, [_num(now), str(FAILED_ATTEMPTS_KEPT)], rows)

    def _acknowledge(self, script: _Script, head: list[str], rows: Sequence[tuple[str, ...]]) -> list[str]:
        with self._guard():
            batch = self._batch()
            self._per_queue(batch, script, head, rows)
            return [job_id for accepted in batch.run() for job_id in accepted]

    def release(self, leases: Sequence[Lease]) -> None:
        with self._guard():
            batch = self._batch()
            self._per_queue(batch, self.scripts.release, [], leases)
            batch.run()

    def _per_queue(
        self, batch: _Batch, script: _Script, head: list[str], rows: Iterable[tuple[str, ...]]
    ) -> None:
        """One script call per queue over rows of (id, token, …), routed by the token's queue;
        rows with a token this backend never issued are left out (refused)."""
        groups: dict[str, list[str]] = {}
        for row in rows:
            queue = _queue_of(row[1])
            if queue is not None:
                groups.setdefault(queue, []).extend(row)
        for queue, args in groups.items():
            batch.script(script, [self._q(queue)], [*head, *args])

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        with self._guard():
            seconds = self._until_due(queues, timeout)
            if len(queues) > 1 and not self.cluster:
                self._wait_in_threads(queues, seconds)
            else:
                self._wait_in_turns(self.client, queues, seconds)

    def _until_due(self, queues: Sequence[str], timeout: float) -> float:
        """How long a wait may block: `timeout`, less if a job of an unpaused queue falls due
        sooner (server clock), 0 if one holds work already (ingested by a reader, or left in
        the intake by a worker that died after its BLMOVE), which no inbox entry would signal."""
        batch = self._batch()
        batch.pipe.execute_command("TIME")  # what `time` sends, which a cluster pipeline refuses to queue
        for queue in queues:
            batch.pipe.exists(self._q(queue) + "paused")
            batch.pipe.zrange(self._q(queue) + "waiting", 0, 0, withscores=True)
            batch.pipe.zcard(self._q(queue) + "queued")
            batch.pipe.llen(self._q(queue) + "intake")
        (seconds, micros), *results = batch.run()
        now = float(seconds) + float(micros) / 1e6
        until = [timeout]
        for paused, first, queued, taken in zip(*(results[i::4] for i in range(4)), strict=True):
            if paused:
                continue
            if queued or taken:
                return 0.0
            if first:
                until.append(first[0][1] - now)
        return min(until)

    def _wait_in_turns(
        self, client: Client, queues: Sequence[str], seconds: float, woke: threading.Event | None = None
    ) -> None:
        """Block on each queue in turn (one queue: all the time; several on a Cluster, whose
        inboxes live on several slots: CLUSTER_TURN each) until work comes, time is up or
        `woke` is set."""
        turns, turn = itertools.cycle(queues), CLUSTER_TURN if len(queues) > 1 else MAX_BLOCK
        deadline = time.monotonic() + seconds
        while not (woke and woke.is_set()) and (left := deadline - time.monotonic()) >= MIN_BLOCK:
            if self._take_one(client, next(turns), min(left, turn)):
                return

    def _wait_in_threads(self, queues: Sequence[str], seconds: float) -> None:
        """A blocking command waits on one list, so each queue blocks on a connection of its own
        in a thread; the first to see work ends the others' waits (CLIENT UNBLOCK)."""
        pool = cast(Redis, self.client).connection_pool
        clients = [Redis(connection_pool=pool, single_connection_client=True) for _ in queues]
        try:
            ids = [client.client_id() for client in clients]
            woke = threading.Event()
            failures: list[Exception] = []
            threads = [
                threading.Thread(
                    target=self._wait_until_woken, args=(*pair, seconds, woke, failures), daemon=True
                )
                for pair in zip(clients, queues, strict=True)
            ]
            for thread in threads:
                thread.start()
            woke.wait(seconds + MAX_BLOCK)
            while blocked := [
                (i, thread) for i, thread in zip(ids, threads, strict=True) if thread.is_alive()
            ]:
                for client_id, _ in blocked:
                    self.client.client_unblock(client_id)
                blocked[0][1].join(0.005)  # an unblock sent before its BLMOVE arrived is sent again
            if failures:
                raise failures[0]
        finally:
            for client in clients:
                client.close()

    def _wait_until_woken(
        self, client: Redis, queue: str, seconds: float, woke: threading.Event, failures: list[Exception]
    ) -> None:
        """One thread of `_wait_in_threads`: block until work, time is up or another queue woke."""
        try:
            self._wait_in_turns(client, [queue], seconds, woke)
        except RedisError as exc:
            failures.append(exc)
        finally:
            woke.set()

    def _take_one(self, commands: Commands, queue: str, seconds: float) -> bool:
        """Block until the queue's inbox holds an entry, then move the oldest to its intake (so
        one enqueued job wakes one worker; ingest takes the intake first): True, or False when
        time is up. On a pipeline, only queued."""
        keys = self._q(queue) + "inbox", self._q(queue) + "intake"
        timeout = max(seconds, MIN_BLOCK)  # Redis takes fractional seconds; redis-py's hint says int
        return commands.blmove(*keys, timeout=timeout, src="LEFT", dest="RIGHT") is not None  # type: ignore[arg-type]

    def unregister(self, worker: str) -> None:
        with self._guard():
            batch = self._batch()
            batch.pipe.hdel(self._workers, worker)
            batch.pipe.zrem(self._seen, worker)
            batch.run()

    # -- maintenance --------------------------------------------------------------------
    def promote_due(self, now: float | None = None) -> int:
        total = 0
        with self._guard():
            pending = self._known_queues()
            while pending:
                batch = self._batch()
                for queue in pending:
                    batch.script(
                        self.scripts.promote, self._queue_keys(queue), [_num(now), str(PROMOTE_BATCH)]
                    )
                promoted = batch.run()
                total += sum(promoted)
                pending = [queue for queue, n in zip(pending, promoted, strict=True) if n == PROMOTE_BATCH]
        return total

    def expired(self, limit: int, now: float | None = None) -> list[ClaimedJob]:
        with self._guard():
            queues = self._known_queues()
            batch = self._batch()
            for queue in queues:
                batch.script(self.scripts.expired, [self._q(queue)], [_num(now), str(limit)])
            rows = [
                job
                for queue, fields in zip(queues, batch.run(), strict=True)
                for _, job in _claimed(fields, queue)
            ]
        return rows[:limit]

    def prune(self, finished_before: float, limit: int) -> int:
        pruned = 0
        with self._guard():
            for queue in self._known_queues():
                if pruned >= limit:
                    break
                args = [repr(float(finished_before)), str(limit - pruned)]
                pruned += self._forget_ids(self.scripts.prune(self.client, [self._q(queue)], args))
        return pruned

    def _forget_ids(self, deleted: list[str]) -> int:
        """Drop deleted jobs from the id index; returns how many."""
        if deleted:
            self.client.hdel(self._index, *deleted)
        return len(deleted)

    def forget_workers(self, seen_before: float) -> int:
        with self._guard():
            keys = [self._workers, self._seen]
            return int(self.scripts.forget_workers(self.client, keys, [repr(float(seen_before))]))

    # -- per-minute counters ------------------------------------------------------------
    def record_minutes(self, rows: Sequence[MinuteCount]) -> None:
        by_queue: dict[str, list[str]] = {}
        for r in rows:
            fields = (str(r.minute), r.task, *(str(getattr(r, c)) for c in _COUNTERS))
            by_queue.setdefault(r.queue, []).extend(fields)
        if not by_queue:
            return
        with self._guard():
            batch = self._batch()
            batch.pipe.sadd(self._queues, *by_queue)  # `minutes` reads the known queues
            for queue, args in by_queue.items():
                batch.script(self.scripts.record_minutes, [self._q(queue)], args)
            batch.run()

    def minutes(self, since: int) -> list[MinuteCount]:
        with self._guard():
            queues = self._drained_queues()
            per_queue = self._per_known_queue(self.scripts.minutes, queues, [str(since)])
        width = 2 + len(_COUNTERS)
        rows = [
            MinuteCount(int(fields[i]), queue, fields[i + 1], *map(int, fields[i + 2 : i + width]))
            for queue, fields in zip(queues, per_queue, strict=True)
            for i in range(0, len(fields), width)
        ]
        return sorted(rows, key=lambda r: (r.minute, r.queue, r.task))

    def forget_minutes(self, before: int) -> int:
        with self._guard():
            queues = self._known_queues()
            return sum(self._per_known_queue(self.scripts.forget_minutes, queues, [str(before)]))

    def _per_known_queue(self, script: _Script, queues: list[str], args: list[str]) -> list[Any]:
        """One call of `script` per queue, in one round trip; their replies in queue order."""
        batch = self._batch()
        for queue in queues:
            batch.script(script, [self._q(queue)], args)
        return batch.run()

    # -- reads and admin writes ---------------------------------------------------------
    def get(self, job_id: str) -> JobRecord | None:
        with self._guard():
            self._drain(self._known_queues())
            queue = cast(str | None, self.client.hget(self._index, job_id))
            if queue is None:
                return None
            fields = cast(dict[str, str], self.client.hgetall(self._q(queue) + f"job:{job_id}"))
            return self._with_failed_attempts([_record(fields)])[0] if fields else None

    def list_jobs(self, query: JobQuery) -> list[JobRecord]:
        with self._guard():
            self._drain(self._queues_of(query))
            return self._with_failed_attempts(self._list(query))

    def _with_failed_attempts(self, records: list[JobRecord]) -> list[JobRecord]:
        """The records with their logs of failed attempts, read in one round trip (listings
        filter without them, so a search never reads the logs of the jobs it passes over)."""
        batch = self._batch()
        for r in records:
            batch.pipe.lrange(self._q(r.queue) + f"job:{r.id}:failed", 0, -1)
        for record, entries in zip(records, batch.run(), strict=True):
            record.failed_attempts = [_failed_attempt(entry) for entry in entries]
        return records

    def count_jobs(self, query: JobQuery) -> int:
        with self._guard():
            self._drain(self._queues_of(query))
            if query.ids is None and query.task is None and query.text is None:
                return self._count_in_sets(query)
            return sum(1 for _ in self._select(query, wanted=None))

    def oldest(self, state: JobState) -> dict[str, float]:
        with self._guard():
            queues = self._drained_queues()
            batch = self._batch()
            for queue in queues:
                batch.pipe.zrange(self._state_set(queue, state), 0, 0)
            firsts = [(ids[0], queue) for queue, ids in zip(queues, batch.run(), strict=True) if ids]
            batch = self._batch()
            for job_id, queue in firsts:
                batch.pipe.hget(self._q(queue) + f"job:{job_id}", "enqueued_at")
            times = batch.run()
        return {queue: float(at) for (_, queue), at in zip(firsts, times, strict=True) if at is not None}

    def _list(self, query: JobQuery) -> list[JobRecord]:
        return list(itertools.islice(self._select(query, wanted=query.limit), query.limit))

    def _select(self, query: JobQuery, wanted: int | None) -> Iterator[JobRecord]:
        """The jobs matching `query`, newest first, read lazily; `wanted` is how many the caller
        reads at most (None: all), which sizes the pages."""
        reads = query.scan if query.text is not None else wanted
        page = PAGE if reads is None or query.task is not None else max(1, min(reads, PAGE))
        candidates = self._candidates(query, page)
        if query.text is None:
            return candidates
        text = query.text
        return (r for r in itertools.islice(candidates, query.scan) if text in r.payload)

    def _candidates(self, query: JobQuery, page: int) -> Iterator[JobRecord]:
        """The jobs passing every filter of `query` but its text, newest first."""
        if query.ids is not None:
            chunks: Iterable[list[tuple[str, str]]] = [sorted(self._locate(query.ids), reverse=True)]
        else:
            chunks = _chunks(self._newest(query, page), page)
        for chunk in chunks:
            yield from (r for r in self._records(chunk) if _matches(r, query))

    def _newest(self, query: JobQuery, page: int) -> Iterator[tuple[str, str]]:
        """(id, queue) of the jobs in the query's queues and states within its id bounds, newest
        first and each once: every set's first page in one round trip, later pages as needed."""
        sets = self._sets(query)
        low, high = _lex_bounds(query)
        batch = self._batch()
        for key, _ in sets:
            batch.pipe.zrevrangebylex(key, high, low, start=0, num=page)
        streams = [
            self._pages(key, queue, first, low, page)
            for (key, queue), first in zip(sets, batch.run(), strict=True)
        ]
        # a job that changed state between two reads may come from two sets: side by side here
        return (located for located, _ in itertools.groupby(heapq.merge(*streams, reverse=True)))

    def _pages(self, key: str, queue: str, ids: list[str], low: str, size: int) -> Iterator[tuple[str, str]]:
        """(id, queue) from `ids`, the first page of one set, then from its next pages."""
        while True:
            yield from ((job_id, queue) for job_id in ids)
            if len(ids) < size:
                return
            size = PAGE
            ids = cast(list[str], self.client.zrevrangebylex(key, "(" + ids[-1], low, start=0, num=size))

    def _count_in_sets(self, query: JobQuery) -> int:
        low, high = _lex_bounds(query)
        batch = self._batch()
        for key, _ in self._sets(query):
            batch.pipe.zlexcount(key, low, high)
        return sum(batch.run())

    def _sets(self, query: JobQuery) -> list[tuple[str, str]]:
        """(key, queue) of the id-ordered per-state sets the query's queue and state select."""
        states = [query.state] if query.state is not None else list(ALL_STATES)
        return [
            (self._state_set(queue, state), queue) for queue in self._queues_of(query) for state in states
        ]

    def _queues_of(self, query: JobQuery) -> list[str]:
        return [query.queue] if query.queue is not None else self._known_queues()

    def _state_set(self, queue: str, state: JobState) -> str:
        return self._q(queue) + f"state:{state}"

    def _locate(self, ids: Sequence[str]) -> list[tuple[str, str]]:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return []
        queues = cast(list[str | None], self.client.hmget(self._index, ids))
        return [(job_id, queue) for job_id, queue in zip(ids, queues, strict=True) if queue is not None]

    def _records(self, located: Sequence[tuple[str, str]]) -> list[JobRecord]:
        batch = self._batch()
        for job_id, queue in located:
            batch.pipe.hgetall(self._q(queue) + f"job:{job_id}")
        return [_record(fields) for fields in batch.run() if fields]

    def counts(self) -> Counts:
        with self._guard():
            flagged = set(
                cast(list[str], self.client.hkeys(self._pauses))
            )  # ever paused: listed like SQLite's
            queues = sorted(set(self._drained_queues()) | flagged)
            batch = self._batch()
            for queue in queues:
                for state in ALL_STATES:
                    batch.pipe.zcard(self._state_set(queue, state))
            sizes = iter(batch.run())
        counts: Counts = {}
        for queue in queues:
            by_state = {str(state): n for state, n in zip(ALL_STATES, sizes, strict=False) if n}
            if by_state or queue in flagged:
                counts[queue] = by_state
        return counts

    def queued_by_priority(self) -> dict[str, dict[int, int]]:
        with self._guard():
            queues = self._drained_queues()
            batch = self._batch()
            for queue in queues:
                batch.pipe.hgetall(self._q(queue) + "priorities")
            depths = batch.run()
        return {
            queue: {int(p): int(n) for p, n in depth.items()}
            for queue, depth in zip(queues, depths, strict=True)
            if depth
        }

    def workers(self) -> list[WorkerInfo]:
        with self._guard():
            batch = self._batch()
            batch.pipe.hgetall(self._workers)
            batch.pipe.zrange(self._seen, 0, -1, withscores=True)
            infos, seen = batch.run()
        last_seen = dict(seen)
        workers = [
            WorkerInfo(**json.loads(info), last_seen=last_seen[worker_id])
            for worker_id, info in infos.items()
            if worker_id in last_seen
        ]
        return sorted(workers, key=lambda w: w.started_at)

    def replay(self, query: JobQuery, now: float | None = None) -> int:
        states = [state for state in REPLAYABLE if query.state in (None, state)]
        with self._guard():
            self._drain(self._queues_of(query))
            found = [record for state in states for record in self._list(replace(query, state=state))]
            newest = sorted(found, key=lambda r: r.id, reverse=True)[: query.limit]
            batch = self._batch()
            for queue, ids in _ids_by_queue(newest).items():
                batch.script(self.scripts.replay, self._queue_keys(queue), ids)
            return sum(batch.run())

    def purge(self, query: JobQuery) -> int:
        with self._guard():
            self._drain(self._queues_of(query))
            batch = self._batch()
            for queue, ids in _ids_by_queue(self._list(query)).items():
                batch.script(self.scripts.purge, self._queue_keys(queue), [query.state or "", *ids])
            return self._forget_ids([job_id for deleted in batch.run() for job_id in deleted])

    def cancel(self, job_id: str, now: float | None = None) -> bool:
        with self._guard():
            self._drain(self._known_queues())
            queue = cast(str | None, self.client.hget(self._index, job_id))
            if queue is None:
                return False
            return bool(self.scripts.cancel(self.client, self._queue_keys(queue), [job_id, _num(now)]))

    def set_paused(self, queue: str, paused: bool) -> None:
        with self._guard():
            batch = self._batch()
            if paused:
                batch.pipe.set(self._q(queue) + "paused", "1")
            else:  # and wakes the idle workers that blocked on its inbox meanwhile
                batch.script(self.scripts.resume, [self._q(queue)], [])
            batch.pipe.hset(self._pauses, queue, int(paused))
            batch.run()

    def paused(self) -> set[str]:
        with self._guard():
            flags = cast(dict[str, str], self.client.hgetall(self._pauses))
            return {queue for queue, flag in flags.items() if flag == "1"}

    def _known_queues(self) -> list[str]:
        return sorted(cast(set[str], self.client.smembers(self._queues)))


def _inbox_entries(jobs: Sequence[NewJob]) -> dict[str, list[str]]:
    """Per queue, its jobs as inbox entries (see lib.lua): JSON arrays of 11 strings (floats in
    repr, exact), spelled out rather than run through an encoder (ids and numbers need no
    escaping, the other strings go through the encoder's own quoting). All but the id and the
    payload is usually the same for a batch's jobs: spelled once per distinct set."""
    by_queue: dict[str, list[str]] = {}
    spelled: dict[tuple[Any, ...], tuple[str, str]] = {}
    for j in jobs:
        shared = (
            j.task,
            j.queue,
            j.priority,
            j.rank,
            j.enqueued_at,
            j.run_at,
            j.retries,
            j.backoff,
            j.timeout,
        )
        parts = spelled.get(shared)
        if parts is None:
            parts = spelled[shared] = (
                f'",{_quote(j.task)},{_quote(j.queue)},"{j.priority}","{j.rank!r}",',
                f',"{j.enqueued_at!r}","{_num(j.run_at)}","{j.retries}",{_quote(j.backoff or "")},'
                f'"{_num(j.timeout)}"]',
            )
        head, tail = parts
        by_queue.setdefault(j.queue, []).append(f'["{j.id}{head}{_quote(j.payload)}{tail}')
    return by_queue


def _claim_calls(
    shares: dict[str, int], worker: str, lease: float, now: float | None
) -> dict[str, list[str]]:
    """Per queue, the claim script's ARGV but the token suffix (fresh for every call)."""
    return {queue: [_num(now), repr(float(lease)), worker, str(share)] for queue, share in shares.items()}


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _opt_float(value: str | None) -> float | None:
    return None if value is None or value == "" else float(value)


def _token_suffix(queue: str) -> str:
    return f".{os.urandom(8).hex()}@{queue}"


def _queue_of(token: str) -> str | None:
    _, at, queue = token.partition("@")
    return queue if at else None


def _claimed(fields: list[Any], queue: str) -> list[tuple[float, ClaimedJob]]:
    """(rank, job) from a claim or expired script's flat reply."""
    jobs = []
    for start in range(0, len(fields), CLAIMED_FIELDS):
        job_id, task, priority, payload, attempts, retries, backoff, timeout, token, rank = fields[
            start : start + CLAIMED_FIELDS
        ]
        job = ClaimedJob(
            job_id,
            task,
            queue,
            int(priority),
            payload,
            int(attempts),
            int(retries),
            backoff or None,
            _opt_float(timeout),
            token,
        )
        jobs.append((float(rank), job))
    return jobs


def _record(fields: dict[str, str]) -> JobRecord:
    return JobRecord(
        id=fields["id"],
        task=fields["task"],
        queue=fields["queue"],
        priority=int(fields["priority"]),
        state=JobState(fields["state"]),
        payload=fields["payload"],
        attempts=int(fields["attempts"]),
        retries=int(fields["retries"]),
        enqueued_at=float(fields["enqueued_at"]),
        run_at=_opt_float(fields.get("run_at")),
        started_at=_opt_float(fields.get("started_at")),
        finished_at=_opt_float(fields.get("finished_at")),
        worker=fields.get("worker"),
        result=fields.get("result"),
        error=fields.get("error"),
        traceback=fields.get("traceback"),
    )


def _failed_attempt(entry: str) -> FailedAttempt:
    fields = json.loads(entry)
    return FailedAttempt(
        attempt=fields["attempt"],
        error=fields["error"],
        traceback=fields["traceback"],
        worker=fields["worker"],
        finished_at=float(fields["finished_at"]),
    )


def _matches(record: JobRecord, query: JobQuery) -> bool:
    """Whether a job passes every filter of `query` but its text."""
    return (
        (query.ids is None or record.id in query.ids)
        and (query.queue is None or record.queue == query.queue)
        and (query.state is None or record.state == query.state)
        and (query.task is None or record.task == query.task)
        and (query.before is None or record.id < query.before)
        and (query.after is None or record.id > query.after)
    )


def _lex_bounds(query: JobQuery) -> tuple[str, str]:
    """The query's id bounds as a ZRANGEBYLEX (min, max), both exclusive."""
    low = "-" if query.after is None else "(" + query.after
    high = "+" if query.before is None else "(" + query.before
    return low, high


def _chunks(items: Iterator[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def _ids_by_queue(records: Iterable[JobRecord]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for record in records:
        groups.setdefault(record.queue, []).append(record.id)
    return groups
