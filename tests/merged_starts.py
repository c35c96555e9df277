"""What a store migrated to a row of queue_starts per claim holds and allows, on SQLite and
PostgreSQL alike (their schema tests): a rate of RATE per PERIOD s whose earlier starts, a row
each at EARLIER_STARTS (one out of the window at `now`, two in), were merged per time."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from taskheap.backends.protocols import FullBackend

RATE, PERIOD = 3, 10.0
LEASE = 30.0


def earlier_starts(now: float) -> list[float]:
    return [now - 20, now - 5, now - 5]


def check_merged_starts(
    backend: FullBackend, rows: Callable[[], Sequence[tuple[object, ...]]], ids: Sequence[str], now: float
) -> None:
    """`rows`: the (at, n) of queue_starts by time; `ids`: the queued jobs of `default` by rank.
    Room for one start at `now`, then for two more once the merged two leave the window."""
    assert [tuple(row) for row in rows()] == [(now - 20, 1), (now - 5, 2)]
    assert backend.limited_queues(now=now)["default"].started == 2
    assert [job.id for job in backend.claim(["default"], "new", 10, LEASE, now=now)] == [ids[0]]
    assert backend.claim(["default"], "new", 10, LEASE, now=now + 4.9) == []
    assert [job.id for job in backend.claim(["default"], "new", 10, LEASE, now=now + 5)] == list(ids[1:3])
    assert [tuple(row) for row in rows()] == [(now, 1), (now + 5, 2)]
    assert backend.limited_queues(now=now + 5)["default"].started == 3
