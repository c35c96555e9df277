"""RedisBackend: the lifecycle, enqueue, the worker's calls, maintenance and the per-minute
counters, over the client, keys, wire format, waits and listing beside it (the admin reads and
writes are in admin.py)."""

from __future__ import annotations

import heapq
import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast
from urllib.parse import urlsplit

from redis import Redis
from redis.exceptions import ResponseError

from ...job import FAILED_ATTEMPTS_KEPT, IdGenerator
from ...urls import redacted
from ..base import (
    Cancellation,
    ClaimedJob,
    Completion,
    Expired,
    Failure,
    Lease,
    MinuteCount,
    NewJob,
    Postponement,
    ProgressUpdate,
    WorkerInfo,
)
from ..checks import SelfCheck, lua_cve_check, plaintext_check, unsilenced
from ..counting import has_unique
from ..protocols import FullBackend
from . import control
from .admin import AdminOnRedis
from .claim_limits import LimitsOnRedis
from .client import Batch, Client, Guard, Script, Scripts, connect, parse_url
from .keys import Keys
from .limits import LimitedEnqueue
from .listing import Listing
from .schema import migrate
from .unique import UniqueEnqueue
from .waits import Waiter
from .wire import (
    COUNTERS,
    INBOX,
    claim_calls,
    claimed,
    inbox_entries,
    num,
    queue_of,
    token_suffix,
    worker_json,
)

log = logging.getLogger("taskheap.redis")

PROMOTE_BATCH = 1000
BURY_BATCH = 1000  # unreadable inbox entries turned into dead jobs per script call
UNREADABLE = "unreadable"  # what take (lib.lua) reports entries it could not read under
RELIST_EVERY = 60.0  # seconds: how often a producer lists its queues among the known ones again


class RedisBackend(AdminOnRedis, LimitsOnRedis, FullBackend):
    def __init__(self, url: str) -> None:
        self.url = url
        client_url, self.prefix, self.cluster = parse_url(url)
        self.display_url = redacted(client_url, query=False)
        self._address = urlsplit(client_url)
        with self._guard():  # a cluster client connects at once, to learn the slots
            self.client: Client = connect(client_url, self.cluster)
        self.scripts = Scripts()
        self.keys = Keys(self.prefix, self.cluster)
        self._listed: dict[str, float] = {}  # queue -> when this process last listed it (monotonic)
        self._ids = IdGenerator()  # for the dead jobs unreadable inbox entries become
        self._waits = Waiter(self.client, self.keys, self.cluster)
        self._listing = Listing(
            self.client, self.keys, self._known_queues, self._ingest_all, self._ingested_queues
        )
        self._limited = LimitedEnqueue(
            self.client, self.keys, self.scripts.enqueue, self._ingest_all, self._result
        )
        self._unique = UniqueEnqueue(
            self.client, self.keys, self.scripts.enqueue_unique, self._ingest_all, self._result
        )

    def _guard(self) -> Guard:
        return Guard(self.display_url)

    # -- lifecycle ----------------------------------------------------------------------
    def migrate(self) -> None:
        with self._guard():
            migrate(self.client, self.keys, f"Redis at {self.display_url} prefix {self.prefix!r}")
            for script in self.scripts.all():
                self.client.script_load(script.source)

    def self_checks(self) -> list[SelfCheck]:
        """Without TLS over the network; a server older than the fix of the 2025 Lua CVEs; an
        eviction policy that may drop jobs; no persistence at all (a restart loses every job).
        On a Cluster, the node the client asks first speaks for the others."""
        where = self.display_url
        checks = plaintext_check("Redis", where, self._address.hostname, self._address.scheme == "rediss")
        with self._guard():
            server = _one_node(self.client.info("server"))
            if "valkey_version" in server:
                checks += lua_cve_check("Valkey", str(server["valkey_version"]), where)
            else:
                checks += lua_cve_check("Redis", str(server["redis_version"]), where)
            try:
                config = _one_node(self.client.config_get("*"))
            except ResponseError:
                config = {}  # CONFIG is often disabled on managed Redis: nothing to tell then
        policy = config.get("maxmemory-policy")
        if policy and policy != "noeviction":
            checks.append(
                SelfCheck(
                    "redis-eviction",
                    f"Redis at {where} has maxmemory-policy {policy}: under memory pressure it may"
                    " silently evict jobs; set maxmemory-policy noeviction",
                )
            )
        if config.get("appendonly") == "no" and config.get("save") == "":
            checks.append(
                SelfCheck(
                    "redis-persistence",
                    f"Redis at {where} keeps nothing on disk (appendonly no, no save points): a"
                    " restart loses every job, dead letters included; set appendonly yes",
                )
            )
        return unsilenced(checks)

    def close(self) -> None:
        self.client.close()
        if isinstance(self.client, Redis):
            self.client.connection_pool.disconnect()

    # -- producers ----------------------------------------------------------------------
    def enqueue(
        self, jobs: Sequence[NewJob], limits: Mapping[str, int] | None = None, now: float | None = None
    ) -> dict[str, str]:
        """Per queue, one RPUSH appends the encoded jobs to its inbox (ingest moves them into
        place later; the push itself wakes an idle worker). Jobs with meta go to the queue's
        wire version 2 list instead, followed by a wake-up marker on the inbox. The queue is
        listed as known in the same round trip when this process has not listed it for
        RELIST_EVERY seconds (ingest lists it too). A call spanning queues or lists sends its
        pushes in one pipeline: each push is atomic, not the whole call. On a Cluster the id
        index lives on another slot: written in the same pipeline. A call with jobs for queues
        in `limits` is a script per such queue instead (limits.py), in the same round trip; so is
        one with jobs with a unique key, for their queues (unique.py)."""
        if not jobs:
            return {}
        if has_unique(jobs):
            with self._guard():
                return self._unique.enqueue_unique(
                    jobs, limits, now, lambda rest: self.enqueue(rest, limits, now)
                )
        if limits:
            with self._guard():
                self._limited.enqueue(jobs, limits)
            return {}
        by_list = inbox_entries(jobs)
        with self._guard():
            if len(by_list) == 1 and not self.cluster:  # the common case: one command
                (((queue, inbox), entries),) = by_list.items()
                listed = time.monotonic() - self._listed.get(queue, -RELIST_EVERY) < RELIST_EVERY
                if inbox == INBOX and listed:
                    self.client.rpush(self.keys.q(queue) + INBOX, *entries)
                    return {}
            queues = list(dict.fromkeys(queue for queue, _ in by_list))
            pipe = self.client.pipeline(transaction=False)
            if self.cluster:
                pipe.hset(self.keys.index, mapping={j.id: j.queue for j in jobs})
            pipe.sadd(self.keys.queues, *queues)
            for (queue, inbox), entries in by_list.items():
                pipe.rpush(self.keys.q(queue) + inbox, *entries)
                if inbox != INBOX:  # idle workers block on the inbox: wake one for these
                    pipe.rpush(self.keys.q(queue) + INBOX, "")
            pipe.execute()
        self._listed.update(dict.fromkeys(queues, time.monotonic()))
        return {}

    def _ingest_all(self, queues: Iterable[str]) -> None:
        """Ingest the queues' inboxes to the end, so a read sees every acknowledged enqueue."""
        pending = list(queues)
        while pending:
            batch = Batch(self.client)
            for queue in pending:
                batch.script(self.scripts.ingest, self.keys.queue_keys(queue), [])
            replies = zip(pending, batch.run(), strict=True)
            pending = [queue for queue, reply in replies if self._result(queue, reply)]

    def _result(self, queue: str, reply: list[Any]) -> Any:
        """The result of a script that ingests (the first element of its reply), having dealt
        with the inbox entries its ingest set aside (the second: version or 'unreadable', count
        pairs; take in lib.lua): unreadable ones become dead jobs, those of a newer wire format
        are warned about and left for a newer worker."""
        for version, count in zip(reply[1][::2], reply[1][1::2], strict=True):
            if version == UNREADABLE:
                self._bury(queue, int(count))
                continue
            log.warning(
                "%d inbox entries of queue %s need a newer taskheap (wire format v%s): kept in %s"
                " for a newer worker",
                count,
                queue,
                version,
                self.keys.aside(queue, version),
            )
        return reply[0]

    def _bury(self, queue: str, count: int) -> None:
        """Turn up to `count` unreadable inbox entries of `queue` into dead jobs with the reason
        (unreadable.lua), a fresh id each; on a Cluster the id index is written here."""
        ids = self._ids.new_many(min(count, BURY_BATCH))
        keys = [self.keys.q(queue)] if self.cluster else [self.keys.q(queue), self.keys.index]
        used = cast(list[str], self.scripts.unreadable(self.client, keys, [queue, "", *ids]))
        if used and self.cluster:
            self.client.hset(self.keys.index, mapping=dict.fromkeys(used, queue))
        if used:
            log.warning(
                "%d unreadable inbox entries of queue %s are dead jobs now, with the reason: %s",
                len(used),
                queue,
                ", ".join(used),
            )

    def _ingested_queues(self) -> list[str]:
        """The known queues, their inboxes ingested."""
        queues = self._known_queues()
        self._ingest_all(queues)
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
            claims = claim_calls(shares, worker, lease, now)
            batch = Batch(self.client)
            self._per_queue(batch, self.scripts.complete, [num(now)], done)
            acknowledgements = len(batch.pipe)
            self._add_claims(batch, claims)
            results = batch.run()
            jobs = self._claimed_jobs(claims, results[acknowledgements:])
        return [job_id for accepted in results[:acknowledgements] for job_id in accepted], jobs

    def wait_and_claim(
        self,
        queues: Sequence[str],
        worker: str,
        limit: int,
        lease: float,
        timeout: float,
        now: float | None = None,
    ) -> list[ClaimedJob]:
        """One queue on a standalone Redis: the wait (BLMOVE) and the claim share a pipeline, so
        the claim runs on the server the moment work arrives: one round trip from an enqueue to
        a claimed job. Otherwise the two steps."""
        queues = list(dict.fromkeys(queues))
        if len(queues) != 1 or self.cluster or limit <= 0:
            return FullBackend.wait_and_claim(self, queues, worker, limit, lease, timeout, now)
        with self._guard():
            claims = claim_calls({queues[0]: limit}, worker, lease, now)
            batch = Batch(self.client)
            self._waits.wait_in(batch, queues[0], timeout, now)
            waits = len(batch.pipe)
            self._add_claims(batch, claims)
            return self._claimed_jobs(claims, batch.run()[waits:])

    def _add_claims(self, batch: Batch, claims: dict[str, list[str]]) -> None:
        for queue, args in claims.items():
            batch.script(self.scripts.claim, self.keys.queue_keys(queue), [*args, token_suffix(queue)])

    def _claimed_jobs(self, claims: dict[str, list[str]], replies: list[Any]) -> list[ClaimedJob]:
        """The jobs of the claim calls' replies, best first. A queue whose inbox was too long to
        ingest in the call (it claimed nothing) is ingested to the end and claimed again."""
        by_queue = dict(zip(claims, replies, strict=True))
        for queue in [queue for queue, reply in by_queue.items() if self._result(queue, reply)]:
            self._ingest_all([queue])
            args = [*claims[queue], token_suffix(queue)]
            by_queue[queue] = reply = self.scripts.claim(self.client, self.keys.queue_keys(queue), args)
            self._result(queue, reply)
        ranked = [row for queue, reply in by_queue.items() for row in claimed(reply[2:], queue)]
        ranked.sort(key=lambda row: (row[0], row[1].id))
        return [job for _, job in ranked]

    def _shares(self, queues: list[str], limit: int, now: float | None) -> dict[str, int]:
        """How many of the overall best `limit` queued jobs each unpaused queue holds."""
        self._ingest_all(queues)
        batch = Batch(self.client)
        for queue in queues:
            batch.script(self.scripts.promote, self.keys.queue_keys(queue), [num(now), str(PROMOTE_BATCH)])
            batch.pipe.exists(self.keys.q(queue) + "paused")
            batch.pipe.zrange(self.keys.q(queue) + "queued", 0, limit - 1, withscores=True)
        results = batch.run()
        for queue, promoted in zip(queues, results[::3], strict=True):
            self._result(queue, promoted)
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
        with self._guard():
            batch = Batch(self.client)
            registration = [worker.id, num(now), *worker_json(worker)]
            batch.script(self.scripts.register, self.keys.registry, registration)
            self._per_queue(batch, self.scripts.extend, [num(now), repr(float(lease))], leases)
            return {job_id for owned in batch.run()[1:] for job_id in owned}

    def complete(self, done: Sequence[Completion], now: float | None = None) -> list[str]:
        return self._acknowledge(self.scripts.complete, [num(now)], done)

    def fail(self, failures: Sequence[Failure], now: float | None = None) -> list[str]:
        rows = [(f.id, f.token, f.error, f.traceback or "", num(f.retry_in)) for f in failures]
        return self._acknowledge(self.scripts.fail, [num(now), str(FAILED_ATTEMPTS_KEPT)], rows)

    def postpone(self, items: Sequence[Postponement], now: float | None = None) -> list[str]:
        rows = [(p.id, p.token, repr(float(p.delay)), "1" if p.unknown_task else "") for p in items]
        return self._acknowledge(self.scripts.postpone, [num(now)], rows)

    def cancel_claimed(self, items: Sequence[Cancellation], now: float | None = None) -> list[str]:
        return self._acknowledge(self.scripts.cancel_claimed, [num(now)], items)

    def _acknowledge(self, script: Script, head: list[str], rows: Sequence[tuple[str, ...]]) -> list[str]:
        with self._guard():
            batch = Batch(self.client)
            self._per_queue(batch, script, head, rows)
            return [job_id for accepted in batch.run() for job_id in accepted]

    def release(self, leases: Sequence[Lease]) -> None:
        with self._guard():
            batch = Batch(self.client)
            self._per_queue(batch, self.scripts.release, [], leases)
            batch.run()

    def _per_queue(
        self, batch: Batch, script: Script, head: list[str], rows: Iterable[tuple[str, ...]]
    ) -> None:
        """One script call per queue over rows of (id, token, …), routed by the token's queue;
        rows with a token this backend never issued are left out (refused)."""
        groups: dict[str, list[str]] = {}
        for row in rows:
            queue = queue_of(row[1])
            if queue is not None:
                groups.setdefault(queue, []).extend(row)
        for queue, args in groups.items():
            batch.script(script, [self.keys.q(queue)], [*head, *args])

    def wait_for_work(self, queues: Sequence[str], timeout: float, now: float | None = None) -> None:
        with self._guard():
            self._waits.wait_for_work(queues, timeout, now)

    def unregister(self, worker: str) -> None:
        with self._guard():
            batch = Batch(self.client)
            batch.pipe.hdel(self.keys.workers, worker)
            batch.pipe.zrem(self.keys.seen, worker)
            batch.pipe.hdel(self.keys.worker_details, worker)
            batch.run()

    # -- maintenance --------------------------------------------------------------------
    def promote_due(self, now: float | None = None) -> int:
        total = 0
        with self._guard():
            pending = self._known_queues()
            while pending:
                batch = Batch(self.client)
                for queue in pending:
                    batch.script(
                        self.scripts.promote, self.keys.queue_keys(queue), [num(now), str(PROMOTE_BATCH)]
                    )
                promoted = [self._result(q, reply) for q, reply in zip(pending, batch.run(), strict=True)]
                total += sum(promoted)
                pending = [queue for queue, n in zip(pending, promoted, strict=True) if n == PROMOTE_BATCH]
        return total

    def expire_due(self, limit: int, now: float | None = None) -> list[Expired]:
        """Each queue's inbox ingested (a batch) and up to `limit` due members of its
        `expiring` set taken, in one round trip."""
        with self._guard():
            queues = self._known_queues()
            batch = Batch(self.client)
            for queue in queues:
                batch.script(self.scripts.expire_due, self.keys.queue_keys(queue), [num(now), str(limit)])
            cancelled = [self._result(q, reply) for q, reply in zip(queues, batch.run(), strict=True)]
        return [
            Expired(job_id, queue, task)
            for queue, pairs in zip(queues, cancelled, strict=True)
            for job_id, task in zip(pairs[::2], pairs[1::2], strict=True)
        ]

    def expired(self, limit: int, now: float | None = None) -> list[ClaimedJob]:
        with self._guard():
            queues = self._known_queues()
            batch = Batch(self.client)
            for queue in queues:
                batch.script(self.scripts.expired, [self.keys.q(queue)], [num(now), str(limit)])
            rows = [
                job
                for queue, fields in zip(queues, batch.run(), strict=True)
                for _, job in claimed(fields, queue)
            ]
        return rows[:limit]

    def prune(self, retention: float, limit: int, now: float | None = None) -> int:
        pruned = 0
        with self._guard():
            for queue in self._known_queues():
                if pruned >= limit:
                    break
                args = [num(now), repr(float(retention)), str(limit - pruned)]
                pruned += self._forget_ids(self.scripts.prune(self.client, [self.keys.q(queue)], args))
        return pruned

    def _forget_ids(self, deleted: list[str]) -> int:
        """Drop deleted jobs from the id index; returns how many."""
        if deleted:
            self.client.hdel(self.keys.index, *deleted)
        return len(deleted)

    def forget_workers(self, silence: float, now: float | None = None) -> int:
        with self._guard():
            args = [num(now), repr(float(silence))]
            return int(self.scripts.forget_workers(self.client, self.keys.registry, args))

    # -- per-minute counters ------------------------------------------------------------
    def record_minutes(self, rows: Sequence[MinuteCount]) -> None:
        by_queue: dict[str, list[str]] = {}
        for r in rows:
            fields = (str(r.minute), r.task, *(str(getattr(r, c)) for c in COUNTERS))
            by_queue.setdefault(r.queue, []).extend(fields)
        if not by_queue:
            return
        with self._guard():
            batch = Batch(self.client)
            batch.pipe.sadd(self.keys.queues, *by_queue)  # `minutes` reads the known queues
            for queue, args in by_queue.items():
                batch.script(self.scripts.record_minutes, [self.keys.q(queue)], args)
            batch.run()

    def minutes(self, since: int) -> list[MinuteCount]:
        with self._guard():
            queues = self._ingested_queues()
            per_queue = self._per_known_queue(self.scripts.minutes, queues, [str(since)])
        width = 2 + len(COUNTERS)
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

    def _per_known_queue(self, script: Script, queues: list[str], args: list[str]) -> list[Any]:
        """One call of `script` per queue, in one round trip; their replies in queue order."""
        batch = Batch(self.client)
        for queue in queues:
            batch.script(script, [self.keys.q(queue)], args)
        return batch.run()

    # -- cancel and progress (control.py) ------------------------------------------
    def cancel(self, job_id: str, now: float | None = None) -> bool:
        with self._guard():
            self._ingest_all(self._known_queues())
            queue = cast(str | None, self.client.hget(self.keys.index, job_id))
            if queue is None:
                return False
            reply = self.scripts.cancel(self.client, self.keys.queue_keys(queue), [job_id, num(now)])
            return bool(self._result(queue, reply))

    def record_progress(self, updates: Sequence[ProgressUpdate], now: float | None = None) -> list[str]:
        return self._acknowledge(self.scripts.progress, [num(now)], updates)

    def cancel_requests(self, ids: Sequence[str]) -> set[str]:
        with self._guard():
            return control.cancel_requests(self.client, self.keys, ids)

    def _known_queues(self) -> list[str]:
        return sorted(cast(set[str], self.client.smembers(self.keys.queues)))


def _one_node(reply: Any) -> dict[str, Any]:
    """A reply of one server: a Cluster client may answer with one per node (name -> reply)."""
    replies = [value for value in reply.values() if isinstance(value, dict)]
    return replies[0] if replies and len(replies) == len(reply) else dict(reply)
