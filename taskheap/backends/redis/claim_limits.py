"""Limits at claim on Redis: the claim script enforces what a queue's `limits` hash holds (see
lua/claim.lua: its running jobs are its `leases` zset, its starts a sliding window zset, its
running jobs per group counted from the job hashes of that zset). Here: declaring them (one
pipeline) and reading them with the load of each limited queue (lua/queue_load.lua)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ..queue_limits import LimitedQueue, QueueLimits, room_in
from .client import Batch, Client, Guard, Scripts
from .keys import Keys
from .wire import num


class _Store(Protocol):
    client: Client
    keys: Keys
    scripts: Scripts

    def _guard(self) -> Guard: ...


class LimitsOnRedis:
    """RedisBackend's QueueLimitsStore methods."""

    def declare_queues(self: _Store, limits: Mapping[str, QueueLimits]) -> None:
        if not limits:
            return
        with self._guard():
            pipe = self.client.pipeline(transaction=False)
            for name, queue_limits in limits.items():
                key = self.keys.q(name) + "limits"
                pipe.delete(key)
                fields = {
                    field: repr(value) if isinstance(value, float) else str(value)
                    for field, value in (
                        ("concurrency", queue_limits.concurrency),
                        ("rate", queue_limits.rate),
                        ("period", queue_limits.period),
                        ("group_concurrency", queue_limits.group_concurrency),
                    )
                    if value is not None
                }
                if fields:
                    pipe.hset(key, items=[part for pair in fields.items() for part in pair])
                    pipe.sadd(self.keys.limited, name)
                else:
                    pipe.srem(self.keys.limited, name)
            pipe.execute()

    def limited_queues(self: _Store, now: float | None = None) -> dict[str, LimitedQueue]:
        with self._guard():
            names = sorted(str(name) for name in self.client.smembers(self.keys.limited))
            batch = Batch(self.client)
            for name in names:
                batch.script(self.scripts.queue_load, [self.keys.q(name)], [num(now)])
            replies = batch.run() if names else []
        found = {}
        for name, (concurrency, rate, period, per_group, running, started, oldest, at) in zip(
            names, replies, strict=True
        ):
            limits = QueueLimits(
                _int(concurrency), _int(rate), float(period) if period else None, _int(per_group)
            )
            if limits.any:
                room = room_in(limits, int(started), float(oldest) if oldest else None, float(at))
                found[name] = LimitedQueue(name, limits, int(running), int(started), room)
        return found


def _int(text: str) -> int | None:
    return int(text) if text else None
