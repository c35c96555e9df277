"""Blocking for work: an idle worker waits on its queues' inboxes (BLMOVE), no longer than the
earliest due time; over several queues in a thread each (standalone) or in turns (Cluster)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from typing import cast

from redis import Redis
from redis.exceptions import RedisError

from .client import Batch, Client, Commands
from .keys import Keys

MIN_BLOCK = 0.001  # BLMOVE's timeout 0 means forever: never block for less than this
MAX_BLOCK = 5.0
CLUSTER_TURN = 0.05


def longest_block(socket_timeout: float | None) -> float:
    """How long one BLMOVE may block: MAX_BLOCK, and at most half the socket timeout, so its
    reply comes well before the client gives up on the connection (a wait is never cut short)."""
    return MAX_BLOCK if socket_timeout is None else min(MAX_BLOCK, socket_timeout / 2)


class Waiter:
    """The waits of one backend, on its client (whose pool the per-queue threads share)."""

    def __init__(self, client: Client, keys: Keys, cluster: bool) -> None:
        self.client, self.keys, self.cluster = client, keys, cluster
        self.max_block = longest_block(client.get_connection_kwargs().get("socket_timeout"))

    def wait_for_work(self, queues: Sequence[str], timeout: float, now: float | None) -> None:
        seconds = self._until_due(queues, timeout, now)
        if len(queues) > 1 and not self.cluster:
            self._wait_in_threads(queues, seconds)
        else:
            self._wait_in_turns(self.client, queues, seconds)

    def wait_in(self, batch: Batch, queue: str, timeout: float, now: float | None) -> None:
        """The wait of `wait_and_claim` on one queue: queues on `batch` a BLMOVE for as long as
        the wait may block (none when work is there already), so what `batch` sends after it
        runs on the server the moment work arrives."""
        seconds = self._until_due([queue], timeout, now)
        if seconds >= MIN_BLOCK:
            self._take_one(batch.pipe, queue, min(seconds, self.max_block))

    def _until_due(self, queues: Sequence[str], timeout: float, now: float | None) -> float:
        """How long a wait may block: `timeout`, less if a job of an unpaused queue falls due
        sooner (by `now`, None: the server's clock), 0 if one holds work already (ingested by a
        reader, or left in the intake by a worker that died after its BLMOVE), which no inbox
        entry would signal."""
        batch = Batch(self.client)
        if now is None:
            batch.pipe.execute_command("TIME")  # what `time` sends, which a cluster pipeline refuses to queue
        for queue in queues:
            batch.pipe.exists(self.keys.q(queue) + "paused")
            batch.pipe.zrange(self.keys.q(queue) + "waiting", 0, 0, withscores=True)
            batch.pipe.zcard(self.keys.q(queue) + "queued")
            batch.pipe.llen(self.keys.q(queue) + "intake")
        results = batch.run()
        if now is None:
            (seconds, micros), *results = results
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
        turns, turn = itertools.cycle(queues), CLUSTER_TURN if len(queues) > 1 else self.max_block
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
            woke.wait(seconds + self.max_block)
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
        keys = self.keys.q(queue) + "inbox", self.keys.q(queue) + "intake"
        timeout = max(seconds, MIN_BLOCK)  # Redis takes fractional seconds; redis-py's hint says int
        return commands.blmove(*keys, timeout=timeout, src="LEFT", dest="RIGHT") is not None  # type: ignore[arg-type]
