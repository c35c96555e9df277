"""Claimer: who claims a worker's jobs, and when. Exactly one thread claims at a time.

The claimer role has one owner at a time, and the hand-over between them is the whole protocol:

- **The loop** (the worker's main thread) owns it while work flows: each acknowledgement of
  finished jobs carries the claim for the free slots in the same round trip (`claim`, the
  backend's `complete_and_claim`).
- **The waker** (a thread of the Claimer's own) owns it while the queues are dry. When the loop's
  claim came back empty with slots free, the loop calls `hand_over(free)` and from then on only
  acknowledges (`handed_over` is True). The waker blocks in the store until work arrives and claims
  it in the same call (`wait_and_claim`), starts it, and keeps the role while claims come back
  short (at light load a job then costs that one call and its acknowledgement), for up to one
  turn (IDLE_WAIT). A full claim, no free slot left, the time up or an error end its turn:
  `handed_over` turns False and `on_return` wakes the loop, which claims again with its next
  acknowledgement.

`stop()` ends the waker: a claim it is making is started before `join` returns, so the worker
can give back what never reached a slot.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence

from ..backends.base import ClaimedJob, Completion
from ..backends.protocols import Waits
from ..errors import BackendError
from .limits import LimitsWatch

log = logging.getLogger("taskheap.worker")

IDLE_WAIT = 1.0  # longest blocking turn of the waker; the loop's longest sleep too
SLOT_START_WAIT = 0.002  # how long the waker lets a slot start the jobs it claimed before going on
ERROR_PAUSE = 0.5  # after a failed turn, before the next


class Claimer:
    def __init__(
        self,
        backend: Waits,
        queues: Sequence[str],
        worker: str,
        lease: float,
        *,
        start: Callable[[list[ClaimedJob], float], None],
        free: Callable[[], int],
        on_return: Callable[[], None],
        now: Callable[[], float | None] = lambda: None,
        turn: float = IDLE_WAIT,
        on_failure: Callable[[str, BackendError], None] | None = None,
        limits: LimitsWatch | None = None,
    ) -> None:
        self.backend = backend
        self.queues = list(queues)
        self.worker = worker
        self.lease = lease
        self._start = start  # puts claimed jobs (and when the claim was sent) in flight and to the slots
        self._free = free  # how many more jobs the worker may hold now
        self._on_return = on_return  # the waker handed the role back
        self._now = now  # the `now` of every backend call (App.store_time)
        self.turn = turn  # the longest the waker keeps the role in one turn
        self._on_failure = on_failure or _warn  # a wait or claim of the waker's failed
        self._limits = limits  # while a queue has limits, an empty claim may be a throttled one
        self._handed = threading.Event()  # set: the waker owns the role
        self._limit = 0  # what the waker may claim on its first call (set before _handed)
        self._slot_took = threading.Event()  # set: a slot started a job
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="taskheap-waker", daemon=True)

    @property
    def handed_over(self) -> bool:
        """True while the waker owns the role: the loop must not claim."""
        return self._handed.is_set()

    def begin(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._handed.set()  # out of its wait for a turn; it sees the stop and ends

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- the loop's side --------------------------------------------------------------
    def claim(self, done: Sequence[Completion], limit: int) -> tuple[list[str], int]:
        """Acknowledge `done` and claim up to `limit` jobs, started at once: the ids the store
        accepted and how many jobs were claimed. Only while the loop owns the role; once
        stopped (from any thread, maybe since the loop last looked), acknowledge only."""
        if self.handed_over:
            if not self._stopping.is_set():  # stop() sets it before it sets _handed
                raise RuntimeError("the waker owns the claimer role: the loop must not claim")
            return (self.backend.complete(done, self._now()) if done else []), 0
        sent = time.monotonic()
        completed, jobs = self.backend.complete_and_claim(
            done, self.queues, self.worker, limit, self.lease, self._now()
        )
        self._start(jobs, sent)
        return completed, len(jobs)

    def hand_over(self, limit: int) -> None:
        """Give the role to the waker, which may claim up to `limit` jobs on its first call."""
        self._limit = limit
        self._handed.set()

    def slot_started(self) -> None:
        """A slot started a job (the waker yields to it briefly after a claim)."""
        self._slot_took.set()

    # -- the waker's side -------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.is_set():
            if not self._handed.wait(IDLE_WAIT) or self._stopping.is_set():
                continue
            try:
                self._turn()
            except BackendError as exc:
                self._on_failure("waiting for work", exc)
                self._stopping.wait(ERROR_PAUSE)
            except Exception:  # the loop claims nothing while the waker is out: it must not die
                log.exception("waiting for work failed (will retry)")
                self._stopping.wait(ERROR_PAUSE)
            finally:
                self._handed.clear()
                self._on_return()

    def _turn(self) -> None:
        """Wait, claim and start, again while claims come back short, for up to one turn."""
        limit = self._limit
        until = time.monotonic() + self.turn
        after_jobs = True  # the loop may have started jobs just before the turn
        while not self._stopping.is_set() and (left := until - time.monotonic()) > 0:
            queues, opens = self._open_queues()
            wait = min(left, IDLE_WAIT, opens)  # a stop is seen within IDLE_WAIT however long the turn
            jobs = self._wait_and_claim(queues, limit, wait) if queues else []
            if not queues:  # every queue's rate is spent until one opens: nothing can start
                self._stopping.wait(wait)
            elif jobs:  # let a slot thread take the GIL first: preparing the next wait would hold it
                self._slot_took.wait(SLOT_START_WAIT)
            elif self._limits is not None and self._limits.limited:
                self._stopping.wait(self._limits.claimed_nothing(queues, after_jobs))
            after_jobs = bool(jobs)
            full, limit = len(jobs) == limit, self._free()
            if full or limit <= 0:
                return

    def _open_queues(self) -> tuple[list[str], float]:
        if self._limits is None or not self._limits.limited:
            return self.queues, math.inf
        return self._limits.open_queues()

    def _wait_and_claim(self, queues: list[str], limit: int, wait: float) -> list[ClaimedJob]:
        sent = time.monotonic()  # the claim runs at the wait's end: its lease cannot start sooner
        jobs = self.backend.wait_and_claim(queues, self.worker, limit, self.lease, wait, self._now())
        self._slot_took.clear()
        self._start(jobs, sent)
        return jobs


def _warn(what: str, exc: BackendError) -> None:
    log.warning("%s failed (will retry): %s", what, exc)
