"""Admin reads: jobs by id, listings and counts over the id-ordered per-state sets, the oldest
job and the queued depth by priority per queue. Each reads its queues' inboxes to the end first
(the ingest it is given), so it sees every acknowledged enqueue."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import cast

from ...job import ALL_STATES, JobState
from ..base import Counts, JobQuery, JobRecord
from .client import Batch, Client
from .keys import Keys
from .wire import failed_attempt, job_record

PAGE = 500


class Listing:
    """The admin reads of one backend, given how it lists its known queues and ingests inboxes."""

    def __init__(
        self,
        client: Client,
        keys: Keys,
        known_queues: Callable[[], list[str]],
        ingest_all: Callable[[Iterable[str]], None],
        ingested_queues: Callable[[], list[str]],
    ) -> None:
        self.client, self.keys, self._known_queues = client, keys, known_queues
        self._ingest_all, self._ingested_queues = ingest_all, ingested_queues

    def get(self, job_id: str) -> JobRecord | None:
        self._ingest_all(self._known_queues())
        queue = cast(str | None, self.client.hget(self.keys.index, job_id))
        if queue is None:
            return None
        fields = cast(dict[str, str], self.client.hgetall(self.keys.q(queue) + f"job:{job_id}"))
        return self._with_failed_attempts([job_record(fields)])[0] if fields else None

    def list_jobs(self, query: JobQuery) -> list[JobRecord]:
        self._ingest_all(self.queues_of(query))
        return self._with_failed_attempts(self.page(query))

    def _with_failed_attempts(self, records: list[JobRecord]) -> list[JobRecord]:
        """The records with their logs of failed attempts, read in one round trip (listings
        filter without them, so a search never reads the logs of the jobs it passes over)."""
        batch = Batch(self.client)
        for r in records:
            batch.pipe.lrange(self.keys.q(r.queue) + f"job:{r.id}:failed", 0, -1)
        for record, entries in zip(records, batch.run(), strict=True):
            record.failed_attempts = [failed_attempt(entry) for entry in entries]
        return records

    def count_jobs(self, query: JobQuery) -> int:
        self._ingest_all(self.queues_of(query))
        if query.ids is None and query.task is None and query.text is None:
            return self._count_in_sets(query)
        return sum(1 for _ in self._select(query, wanted=None))

    def oldest(self, state: JobState) -> dict[str, float]:
        queues = self._ingested_queues()
        batch = Batch(self.client)
        for queue in queues:
            batch.pipe.zrange(self.keys.state_set(queue, state), 0, 0)
        firsts = [(ids[0], queue) for queue, ids in zip(queues, batch.run(), strict=True) if ids]
        batch = Batch(self.client)
        for job_id, queue in firsts:
            batch.pipe.hget(self.keys.q(queue) + f"job:{job_id}", "enqueued_at")
        times = batch.run()
        return {queue: float(at) for (_, queue), at in zip(firsts, times, strict=True) if at is not None}

    def page(self, query: JobQuery) -> list[JobRecord]:
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
        batch = Batch(self.client)
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
        batch = Batch(self.client)
        for key, _ in self._sets(query):
            batch.pipe.zlexcount(key, low, high)
        return sum(batch.run())

    def _sets(self, query: JobQuery) -> list[tuple[str, str]]:
        """(key, queue) of the id-ordered per-state sets the query's queue and state select."""
        states = [query.state] if query.state is not None else list(ALL_STATES)
        return [
            (self.keys.state_set(queue, state), queue) for queue in self.queues_of(query) for state in states
        ]

    def queues_of(self, query: JobQuery) -> list[str]:
        return [query.queue] if query.queue is not None else self._known_queues()

    def _locate(self, ids: Sequence[str]) -> list[tuple[str, str]]:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return []
        queues = cast(list[str | None], self.client.hmget(self.keys.index, ids))
        return [(job_id, queue) for job_id, queue in zip(ids, queues, strict=True) if queue is not None]

    def _records(self, located: Sequence[tuple[str, str]]) -> list[JobRecord]:
        batch = Batch(self.client)
        for job_id, queue in located:
            batch.pipe.hgetall(self.keys.q(queue) + f"job:{job_id}")
        return [job_record(fields) for fields in batch.run() if fields]

    def counts(self) -> Counts:
        flagged = set(
            cast(list[str], self.client.hkeys(self.keys.pauses))
        )  # ever paused: listed like SQLite's
        queues = sorted(set(self._ingested_queues()) | flagged)
        batch = Batch(self.client)
        for queue in queues:
            for state in ALL_STATES:
                batch.pipe.zcard(self.keys.state_set(queue, state))
        sizes = iter(batch.run())
        counts: Counts = {}
        for queue in queues:
            by_state = {str(state): n for state, n in zip(ALL_STATES, sizes, strict=False) if n}
            if by_state or queue in flagged:
                counts[queue] = by_state
        return counts

    def queued_by_priority(self) -> dict[str, dict[int, int]]:
        queues = self._ingested_queues()
        batch = Batch(self.client)
        for queue in queues:
            batch.pipe.hgetall(self.keys.q(queue) + "priorities")
        depths = batch.run()
        return {
            queue: {int(p): int(n) for p, n in depth.items()}
            for queue, depth in zip(queues, depths, strict=True)
            if depth
        }


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
