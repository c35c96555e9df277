"""LimitsWatch: what a worker knows of its queues' limits at claim (the store enforces them,
backends/queue_limits.py). A worker serving a limited queue claims no jobs ahead (a prefetched
job would start later than the claim the limits counted), waits THROTTLE_POLL after a claim that
came back empty (a throttled queue has queued jobs, so the store's wait would return at once),
and warns once per stored value when the store holds other limits than its App declares (a
rolling deploy, or two Apps declaring one queue differently: the last opened wins)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from ..backends.protocols import QueueLimitsStore
from ..backends.queue_limits import QueueLimits

log = logging.getLogger("taskheap.worker")

THROTTLE_POLL = 0.02  # seconds between claims of a worker whose limited queues gave it nothing
CHECK_EVERY = 10.0  # seconds between reads of the stored limits


class LimitsWatch:
    def __init__(
        self,
        store: QueueLimitsStore,
        declared: Mapping[str, QueueLimits],
        queues: Sequence[str],
        now: Callable[[], float | None],
    ) -> None:
        self.store, self.queues, self._now = store, list(queues), now
        self.declared = {q: declared[q] for q in self.queues if q in declared and declared[q].any}
        self.limited = bool(self.declared)  # any of the worker's queues has limits
        self._warned: set[tuple[str, QueueLimits | None]] = set()
        self._checked = -CHECK_EVERY

    def run_once(self) -> None:
        """Read the stored limits if CHECK_EVERY passed since the last read."""
        if time.monotonic() - self._checked >= CHECK_EVERY:
            self.check()

    def check(self) -> None:
        self._checked = time.monotonic()
        stored = {name: q.limits for name, q in self.store.limited_queues(self._now()).items()}
        self.limited = any(q in stored or q in self.declared for q in self.queues)
        for queue in self.queues:
            held, mine = stored.get(queue), self.declared.get(queue)
            if held != mine and (queue, held) not in self._warned:
                self._warned.add((queue, held))
                log.warning(
                    "queue %s: the store holds limits %s, this worker's app declares %s; the store's"
                    " apply until an App declaring the queue opens (or `taskheap queues limits %s --clear`)",
                    queue,
                    describe(held),
                    describe(mine),
                    queue,
                )


def describe(limits: QueueLimits | None) -> str:
    """`concurrency=5 rate=100/s group_concurrency=2`, or `none`."""
    if limits is None:
        return "none"
    parts = [
        f"concurrency={limits.concurrency}" if limits.concurrency is not None else "",
        f"rate={limits.rate_text}" if limits.rate_text else "",
        f"group_concurrency={limits.group_concurrency}" if limits.group_concurrency is not None else "",
    ]
    return " ".join(part for part in parts if part)
