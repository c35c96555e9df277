"""Enqueue of a call holding jobs with a unique key: per queue with such a job, one call of
lua/enqueue_unique.lua, which takes the keys and writes that queue's jobs of the call into place
in one atomic step (counting the queue's room first when it has a max_length); the call's other
queues go the usual way (`rest`). Keys live under their queue's prefix, on its Cluster slot."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ...errors import QueueFull
from ..base import NewJob
from ..counting import limited, resolved
from .client import Batch
from .limits import LimitedEnqueue
from .wire import num


class UniqueEnqueue(LimitedEnqueue):
    """A LimitedEnqueue's plumbing (client, keys, ingest, replies) over enqueue_unique.lua."""

    def enqueue_unique(
        self,
        jobs: Sequence[NewJob],
        limits: Mapping[str, int] | None,
        now: float | None,
        rest: Callable[[list[NewJob]], object],
    ) -> dict[str, str]:
        keyed_queues = {j.queue for j in jobs if j.unique_key is not None}
        by_queue: dict[str, list[NewJob]] = {}
        others = []
        for job in jobs:
            if job.queue in keyed_queues:
                by_queue.setdefault(job.queue, []).append(job)
            else:
                others.append(job)
        if others:
            rest(others)
        room = limited(jobs, limits) if limits else {}
        batch = Batch(self.client)
        if self.keys.cluster:  # the id index and the known queues are on another slot: written first
            batch.pipe.hset(self.keys.index, mapping={j.id: j.queue for q in by_queue.values() for j in q})
            batch.pipe.sadd(self.keys.queues, *by_queue)
        args = {
            queue: [num(now), str(room[queue][0]) if queue in room else "", *_fields(queued)]
            for queue, queued in by_queue.items()
        }
        for queue, argv in args.items():
            batch.script(self.script, self.keys.queue_keys(queue), argv)
        duplicates: dict[str, str] = {}
        refused: dict[str, int] = {}
        results = batch.run()
        for queue, reply in zip(args, results[len(results) - len(args) :], strict=True):
            while self._result(queue, reply):  # more than one ingest takes: ingest it all, again
                self._ingest_all([queue])
                reply = self.script(self.client, self.keys.queue_keys(queue), args[queue])
            found = reply[4]
            duplicates.update(zip(found[::2], found[1::2], strict=True))
            if not reply[3]:
                refused[queue] = int(reply[2])
        if self.keys.cluster and (dropped := [*duplicates, *(j.id for q in refused for j in by_queue[q])]):
            self.client.hdel(self.keys.index, *dropped)
        if refused:
            queue, waiting = next(iter(refused.items()))
            adding = sum(1 for j in by_queue[queue] if j.id not in duplicates)
            enqueued = tuple(q for q in dict.fromkeys(j.queue for j in jobs) if q not in refused)
            raise QueueFull(queue, room[queue][0], waiting, adding, enqueued)
        return resolved(duplicates)


def _fields(jobs: list[NewJob]) -> list[str]:
    fields: list[str] = []
    for j in jobs:
        fields += [
            j.id,
            j.task,
            j.queue,
            str(j.priority),
            repr(float(j.rank)),
            j.payload,
            repr(float(j.enqueued_at)),
            num(j.run_at),
            str(j.retries),
            j.backoff or "",
            num(j.timeout),
            j.meta or "",
            num(j.expires_at),
            j.group or "",
            j.unique_key or "",
            num(j.unique_for),
        ]
    return fields
