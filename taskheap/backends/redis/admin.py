"""Redis's admin reads and writes (listings and counts through listing.py, workers, replay,
purge, pause), as a base of RedisBackend."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Protocol, cast

from ...job import REPLAYABLE, JobState
from ..base import Counts, JobQuery, JobRecord, Replayed, WorkerInfo
from .client import Batch, Client, Guard, Scripts
from .keys import Keys
from .listing import Listing
from .wire import registered


class _Store(Protocol):
    client: Client
    keys: Keys
    scripts: Scripts
    _listing: Listing

    def _guard(self) -> Guard: ...
    def _ingest_all(self, queues: Iterable[str]) -> None: ...
    def _result(self, queue: str, reply: list[Any]) -> Any: ...
    def _forget_ids(self, deleted: list[str]) -> int: ...


class AdminOnRedis:
    """RedisBackend's admin reads and writes."""

    def get(self: _Store, job_id: str) -> JobRecord | None:
        with self._guard():
            return self._listing.get(job_id)

    def list_jobs(self: _Store, query: JobQuery) -> list[JobRecord]:
        with self._guard():
            return self._listing.list_jobs(query)

    def count_jobs(self: _Store, query: JobQuery) -> int:
        with self._guard():
            return self._listing.count_jobs(query)

    def oldest(self: _Store, state: JobState) -> dict[str, float]:
        with self._guard():
            return self._listing.oldest(state)

    def counts(self: _Store) -> Counts:
        with self._guard():
            return self._listing.counts()

    def queued_by_priority(self: _Store) -> dict[str, dict[int, int]]:
        with self._guard():
            return self._listing.queued_by_priority()

    def workers(self: _Store) -> list[WorkerInfo]:
        with self._guard():
            return registered(self.scripts.workers(self.client, self.keys.registry, []))

    def replay(self: _Store, query: JobQuery) -> Replayed:
        states = [state for state in REPLAYABLE if query.state in (None, state)]
        with self._guard():
            self._ingest_all(self._listing.queues_of(query))
            found = [record for state in states for record in self._listing.page(replace(query, state=state))]
            newest = sorted(found, key=lambda r: r.id, reverse=True)[: query.limit]
            batch = Batch(self.client)
            groups = _ids_by_queue(newest)
            for queue, ids in groups.items():
                batch.script(
                    self.scripts.replay, self.keys.queue_keys(queue), sorted(ids)
                )  # oldest takes a key
            replies = list(zip(groups, batch.run(), strict=True))
            return Replayed(
                sum(self._result(q, reply) for q, reply in replies), sum(r[2] for _, r in replies)
            )

    def purge(self: _Store, query: JobQuery) -> int:
        with self._guard():
            self._ingest_all(self._listing.queues_of(query))
            batch = Batch(self.client)
            groups = _ids_by_queue(self._listing.page(query))
            for queue, ids in groups.items():
                batch.script(self.scripts.purge, self.keys.queue_keys(queue), [query.state or "", *ids])
            replies = zip(groups, batch.run(), strict=True)
            return self._forget_ids([job_id for q, reply in replies for job_id in self._result(q, reply)])

    def set_paused(self: _Store, queue: str, paused: bool) -> None:
        with self._guard():
            batch = Batch(self.client)
            if paused:
                batch.pipe.set(self.keys.q(queue) + "paused", "1")
            else:  # and wakes the idle workers that blocked on its inbox meanwhile
                batch.script(self.scripts.resume, [self.keys.q(queue)], [])
            batch.pipe.hset(self.keys.pauses, queue, int(paused))
            batch.run()

    def paused(self: _Store) -> set[str]:
        with self._guard():
            flags = cast(dict[str, str], self.client.hgetall(self.keys.pauses))
            return {queue for queue, flag in flags.items() if flag == "1"}


def _ids_by_queue(records: Iterable[JobRecord]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for record in records:
        groups.setdefault(record.queue, []).append(record.id)
    return groups
