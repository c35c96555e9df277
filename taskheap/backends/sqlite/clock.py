"""The SQLite store's clock, the one every process on the file decides leases, delays and rescues by.

SQLite has no server to ask the time, and every process on the file reads its own wall clock:
a step of it (NTP, a VM resumed, a person) or one process with a clock of its own would make live
leases look expired or expired ones live. So the store records, once per boot of the host, the
wall clock's reading at an instant of the boot-time clock (CLOCK_BOOTTIME: one per host, never
stepped, counting suspend), and its time is that reading carried forward by the boot-time clock.
Every process on the host computes the same time from it, whatever its wall clock says later.

After a reboot the boot-time clock restarts, so the first process to use the store in the new
boot takes the anchor again from the wall clock (never below the old anchor's reading): leases
written before the reboot still run out. Where the boot-time clock or the boot id is missing (not
Linux), the store's clock is the wall clock.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger("taskheap.sqlite")

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
STEP = 1.0  # seconds the wall clock may move off the store's before it counts as a step
_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", None)

READ_ANCHOR_SQL = "SELECT boot_id, offset, anchored_at FROM clock WHERE id = 1"
WRITE_ANCHOR_SQL = "INSERT OR REPLACE INTO clock (id, boot_id, offset, anchored_at) VALUES (1, ?, ?, ?)"


def boot_id() -> str | None:
    """This boot of this host, or None where it cannot be told (then the wall clock decides)."""
    if _BOOTTIME is None:
        return None
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def boot_time() -> float:
    assert _BOOTTIME is not None
    return time.clock_gettime(_BOOTTIME)


def new_anchor(previous: tuple[str, float, float] | None) -> tuple[float, float]:
    """(offset, anchored_at) for a boot the store has not seen: the wall clock now, never below
    the previous anchor's reading."""
    wall = time.time() if previous is None else max(time.time(), previous[2])
    return wall - boot_time(), wall


class StoreClock:
    """`now()`: the boot-time clock plus the store's offset (None: the wall clock). Logs once per
    step when the wall clock moves off it by more than STEP."""

    __slots__ = ("_checked_at", "_skew", "offset")

    def __init__(self, offset: float | None) -> None:
        self.offset = offset
        self._skew = 0.0
        self._checked_at = 0.0

    def now(self) -> float:
        if self.offset is None:
            return time.time()
        now = boot_time() + self.offset
        if now - self._checked_at >= 1.0:
            self._check_step(now)
        return now

    def skew(self) -> float:
        """Seconds this process's wall clock is ahead of the store's (0 when it is the wall)."""
        return 0.0 if self.offset is None else time.time() - (boot_time() + self.offset)

    def _check_step(self, now: float) -> None:
        self._checked_at = now
        skew = time.time() - now
        if abs(skew - self._skew) > STEP:
            log.warning(
                "this process's clock is %+.1f s off the SQLite store's (a wall-clock step): leases,"
                " delays and rescues keep the store's clock; times the store records differ from"
                " the wall clock by that much until the host reboots",
                skew,
            )
        self._skew = skew
