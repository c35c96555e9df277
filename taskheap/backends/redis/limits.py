"""Enqueue into queues with a max_length: per such queue one call of lua/enqueue.lua, which
ingests the queue's inbox, counts its waiting jobs and pushes the call's entries only if they
fit, in one atomic step; the call's queues without a limit get their bare RPUSH in the same
round trip. Each queue's part is atomic, a call spanning queues is not: the parts for queues
with room are enqueued, and QueueFull names them (`enqueued_queues`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ...errors import QueueFull
from ..base import NewJob
from ..counting import limited
from .client import Batch, Client, Script
from .keys import Keys
from .wire import INBOX, INBOX_V2, INBOX_V3, INBOX_V4, inbox_entries


class LimitedEnqueue:
    """The enqueue of a call that has jobs for limited queues, over the backend's client."""

    def __init__(
        self,
        client: Client,
        keys: Keys,
        script: Script,
        ingest_all: Callable[[Iterable[str]], None],
        result: Callable[[str, list[Any]], Any],
    ) -> None:
        self.client, self.keys, self.script = client, keys, script
        self._ingest_all, self._result = ingest_all, result

    def enqueue(self, jobs: Sequence[NewJob], limits: Mapping[str, int]) -> None:
        room = limited(jobs, limits)
        calls: dict[str, dict[str, list[str]]] = {
            queue: {INBOX: [], INBOX_V2: [], INBOX_V3: [], INBOX_V4: []} for queue in room
        }
        batch = Batch(self.client)
        if self.keys.cluster:  # the id index is on another slot: written first, as a bare enqueue does
            batch.pipe.hset(self.keys.index, mapping={j.id: j.queue for j in jobs})
        by_list = inbox_entries(jobs)
        queues = list(dict.fromkeys(queue for queue, _ in by_list))
        batch.pipe.sadd(self.keys.queues, *queues)
        for (queue, inbox), entries in by_list.items():
            if queue in calls:
                calls[queue][inbox].extend(entries)
            else:
                batch.pipe.rpush(self.keys.q(queue) + inbox, *entries)
                if inbox != INBOX:  # idle workers block on the inbox: wake one for these
                    batch.pipe.rpush(self.keys.q(queue) + INBOX, "")
        args = {
            q: [
                str(room[q][0]),
                str(len(v[INBOX])),
                str(len(v[INBOX_V2])),
                str(len(v[INBOX_V3])),
                *v[INBOX],
                *v[INBOX_V2],
                *v[INBOX_V3],
                *v[INBOX_V4],
            ]
            for q, v in calls.items()
        }
        for queue, argv in args.items():
            batch.script(self.script, self.keys.queue_keys(queue), argv)
        results = batch.run()
        replies = results[len(results) - len(args) :]
        refused = {}
        for queue, reply in zip(args, replies, strict=True):
            while self._result(queue, reply):  # more than one ingest takes: ingest it all, again
                self._ingest_all([queue])
                reply = self.script(self.client, self.keys.queue_keys(queue), args[queue])
            if not reply[3]:
                refused[queue] = int(reply[2])
        if refused:
            self._refuse(jobs, room, refused, queues)

    def _refuse(
        self,
        jobs: Sequence[NewJob],
        room: dict[str, tuple[int, int]],
        refused: dict[str, int],
        queues: list[str],
    ) -> None:
        if self.keys.cluster:
            self.client.hdel(self.keys.index, *(j.id for j in jobs if j.queue in refused))
        queue, waiting = next(iter(refused.items()))
        max_length, adding = room[queue]
        raise QueueFull(queue, max_length, waiting, adding, tuple(q for q in queues if q not in refused))
