"""LimitsWatch: what a worker knows of its queues' limits at claim (the store enforces them,
backends/queue_limits.py). A worker serving a limited queue claims no jobs ahead (a prefetched
job would start later than the claim the limits counted), and warns once per stored value when
the store holds other limits than its App declares (a rolling deploy, or two Apps declaring one
queue differently: the last opened wins).

The throttle (the waker's side): a claim that came back empty while a queue has limits may be a
throttled one, whose jobs stay queued, so the store's wait for work would return at once. The
waker then reads when the full rate windows open (after jobs started, once a window it waited
for opened, else at most every READ_EVERY), leaves those queues out of its claims until then,
and sleeps when every queue is out; while an open queue has limits (a full concurrency frees
when a job ends, anywhere) it claims again after THROTTLE_POLL."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence

from ..backends.protocols import QueueLimitsStore
from ..backends.queue_limits import QueueLimits

log = logging.getLogger("taskheap.worker")

THROTTLE_POLL = 0.02  # seconds between claims of a worker whose open limited queues gave it nothing
READ_EVERY = 1.0  # seconds between the throttle's reads of when the full rate windows open
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
        # the throttle's (the waker thread's alone): the queues with limits at its last read (all
        # of them before the first), the queues whose rate's window is full until a
        # time.monotonic(), and when it last read
        self._throttled = set(self.queues)
        self._full: dict[str, float] = {}
        self._read = -READ_EVERY
        self._reopened = False

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

    def open_queues(self) -> tuple[list[str], float]:
        """The worker's queues a claim may start a job of now (a queue whose rate's window is
        full is left out until it opens), and the seconds until the first left out opens
        (math.inf: none is)."""
        clock = time.monotonic()
        opened = [queue for queue, until in self._full.items() if until <= clock]
        for queue in opened:
            del self._full[queue]
        self._reopened = self._reopened or bool(opened)
        opens = min(self._full.values(), default=math.inf) - clock
        return [queue for queue in self.queues if queue not in self._full], opens

    def claimed_nothing(self, queues: Sequence[str], after_jobs: bool) -> float:
        """A claim of `queues` (the open ones) came back empty (`after_jobs`: after a claim that
        started jobs, or the first of the waker's turn): learn which rate windows are full, and
        the seconds to wait before the next claim (THROTTLE_POLL while an open queue has limits,
        else 0: the store's wait for work blocks). It reads the store after jobs started (they
        may have filled a window), once a window it waited for opened, or READ_EVERY after its
        last read, unless all of `queues` had no limits then (an idle queue without limits
        beside full ones); with none limited then, it reads (the store may have limits the
        worker does not know of yet)."""
        stale = after_jobs or self._reopened or time.monotonic() - self._read >= READ_EVERY
        if stale and (not self._throttled or not self._throttled.isdisjoint(queues)):
            stored = self.store.limited_queues(self._now())
            self._read, self._reopened = time.monotonic(), False  # after: late rather than early
            self._throttled = {queue for queue in self.queues if queue in stored}
            self._full = {
                queue: self._read + stored[queue].room_in
                for queue in self._throttled
                if stored[queue].room_in > 0
            }
        return THROTTLE_POLL if self._throttled - self._full.keys() else 0.0


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
