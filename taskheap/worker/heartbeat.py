"""Heartbeat: one round trip renews every lease this worker holds and marks it alive. A failure
is raised to the caller (the worker's heartbeat thread, which reports it and tries again soon)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ..backends.base import Lease, WorkerInfo
from ..backends.protocols import Backend


class Heartbeat:
    def __init__(
        self,
        backend: Backend,
        info: WorkerInfo,
        lease: float,
        held: Callable[[], Sequence[Lease]],
        on_lost: Callable[[set[str]], None],
        on_renewed: Callable[[set[str], float], None],
        describe: Callable[[WorkerInfo], None],
    ) -> None:
        self.backend = backend
        self.info = info
        self.lease = lease
        self.held = held
        self.on_lost = on_lost
        self.on_renewed = on_renewed  # (ids, monotonic time the heartbeat was sent)
        self.describe = describe  # fills in what the registry shows: jobs running, throughput

    def run_once(self, now: float | None = None) -> None:
        leases = list(self.held())
        self.describe(self.info)
        sent = time.monotonic()
        owned = self.backend.heartbeat(self.info, leases, self.lease, now)
        self.on_renewed(owned, sent)
        lost = {lease.id for lease in leases} - owned
        if lost:
            # Only the jobs still held: one acknowledged during the round trip (taken off before
            # its completion was sent) is no longer running, and its lease was not lost.
            lost.intersection_update(lease.id for lease in self.held())
        if lost:
            self.on_lost(lost)
