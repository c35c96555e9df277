"""StoreWatch: whether the store answers the worker, said once per outage.

The heartbeat is the probe: every answer it gets marks the store reachable. An outage begins
when a heartbeat could not reach the store (StoreUnreachable) or when none has been answered for
`patience` seconds (a call hanging on a silent connection says nothing until its timeout;
`check`, from a thread that never touches the store, sees the silence). It is logged once, with
the leases held then, which may lapse: their jobs are not started here once they might have
(Worker._started), and other workers take them over. The first answer after it is logged too,
with how long the store was silent. Other calls that could not reach the store are logged at
debug level only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from ..errors import BackendError, StoreUnreachable

log = logging.getLogger("taskheap.worker")


class StoreWatch:
    def __init__(self, patience: float, held: Callable[[], int]) -> None:
        self.patience = patience
        self._held = held  # how many jobs the worker holds now
        self._lock = threading.Lock()
        self._answered = time.monotonic()  # the store's last answer
        self._down = False

    @property
    def down(self) -> bool:
        return self._down

    def answered(self) -> None:
        """A heartbeat came back: the store is reachable."""
        now = time.monotonic()
        with self._lock:
            silent, self._answered = now - self._answered, now
            was_down, self._down = self._down, False
        if was_down:
            log.warning("store reachable again after %.1fs without an answer", silent)

    def unanswered(self, exc: StoreUnreachable) -> None:
        """A heartbeat could not reach the store: an outage (said once)."""
        self._begin(str(exc))

    def failed(self, what: str, exc: BackendError) -> None:
        """Another call failed. Not reaching the store is a symptom the heartbeat judges (a
        single reset connection is no outage, nor is a call left over from one that fails
        after the store is back): logged at debug level; any other failure as it comes."""
        if isinstance(exc, StoreUnreachable):
            log.debug("%s failed (will retry): %s", what, exc)
        else:
            log.warning("%s failed (will retry): %s", what, exc)

    def check(self) -> None:
        """No answer for `patience` seconds: an outage, though no call has failed yet."""
        silent = time.monotonic() - self._answered
        if silent >= self.patience:
            self._begin(f"no heartbeat answered for {silent:.1f}s")

    def _begin(self, reason: str) -> None:
        """Begin an outage, unless one is on already."""
        with self._lock:
            if self._down:
                return
            self._down = True
            since = time.time() - (time.monotonic() - self._answered)
        log.warning(
            "store unreachable since %s (last answer %.1fs ago): %s; %d lease(s) held may lapse,"
            " their jobs are not started here once they may have",
            datetime.fromtimestamp(since).isoformat(sep=" ", timespec="milliseconds"),
            time.time() - since,
            reason,
            self._held(),
        )
