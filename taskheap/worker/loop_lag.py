"""The event loop's lag, watched from a thread of its own: blocking code in an `async def` task
(time.sleep, sync I/O, a long computation) stalls every other coroutine on the loop, and the
warning names the job whose coroutine did it.

The loop runs a tick every LAG_TICK seconds; the watchdog thread looks as often, and a tick more
than LAG_WARNING seconds late is one warning per stall, logged while it lasts (the blocking
coroutine is then still the loop's current task). Heartbeats and leases do not depend on the
loop: they run on the worker's own threads."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("taskheap.worker")

LAG_TICK = 0.1  # seconds between two ticks of the loop, and two looks of the watchdog
LAG_WARNING = 1.0  # seconds the loop may be blocked before the warning


class LoopLag:
    def __init__(self, loop: asyncio.AbstractEventLoop, blocker: Callable[[], str]) -> None:
        """`blocker()` names what the loop is running now (called off the loop, during a stall)."""
        self.loop = loop
        self.blocker = blocker
        self._beat = time.monotonic()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="taskheap-loop-lag", daemon=True)

    def start(self) -> None:
        self._beat = time.monotonic()
        self.loop.call_soon_threadsafe(self._tick)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _tick(self) -> None:
        self._beat = time.monotonic()
        self.loop.call_later(LAG_TICK, self._tick)

    def _watch(self) -> None:
        reported = None  # the tick whose stall was reported
        while not self._stopped.wait(LAG_TICK):
            beat = self._beat
            blocked = time.monotonic() - beat - LAG_TICK
            if blocked > LAG_WARNING and beat != reported:
                reported = beat
                log.warning(
                    "the event loop of async tasks has been blocked for %.1fs by %s: blocking code"
                    " in an async def task (time.sleep, sync I/O) stalls every coroutine on the"
                    " loop; await instead, or run it in a thread (asyncio.to_thread)",
                    blocked,
                    self.blocker(),
                )
