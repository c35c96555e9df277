"""Cancel requests in Redis: the worker's poll for the `cancel_requested_at` field that
lua/cancel.lua sets on a running job's hash. Two pipelined round trips: the queues of the ids
(the id -> queue index), then the state and request of each job."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from .client import Batch, Client
from .keys import Keys


def cancel_requests(client: Client, keys: Keys, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    batch = Batch(client)
    for job_id in ids:
        batch.pipe.hget(keys.index, job_id)
    queues = cast(list[str | None], batch.run())
    batch = Batch(client)
    known = [(job_id, queue) for job_id, queue in zip(ids, queues, strict=True) if queue is not None]
    for job_id, queue in known:
        batch.pipe.hmget(keys.q(queue) + f"job:{job_id}", "state", "cancel_requested_at")
    replies = cast(list[list[str | None]], batch.run())
    return {
        job_id
        for (job_id, _), (state, requested) in zip(known, replies, strict=True)
        if state == "running" and requested is not None
    }
