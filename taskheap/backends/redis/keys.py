"""The key layout: every module of the Redis backend builds its keys here (lua/lib.lua lists the
keys under a queue's prefix)."""

from __future__ import annotations

from ...job import JobState


class Keys:
    """The keys of one prefix: per queue under the hash tag `{<prefix>:<queue>}`, global ones
    under `{<prefix>}`."""

    __slots__ = (
        "_prefix",
        "cluster",
        "index",
        "limited",
        "migrating",
        "pauses",
        "queues",
        "seen",
        "version",
        "worker_details",
        "workers",
    )

    def __init__(self, prefix: str, cluster: bool) -> None:
        self._prefix, self.cluster = prefix, cluster
        g = f"{{{prefix}}}:"
        self.index, self.queues, self.pauses = g + "queue-of", g + "queues", g + "paused"
        self.workers, self.seen, self.version = g + "workers", g + "workers:seen", g + "version"
        # what a heartbeat records beyond the first fields, apart from `workers`, whose JSON
        # readers of earlier versions take whole (they would refuse a field they do not know)
        self.worker_details = g + "workers:details"
        self.migrating = g + "migrating"  # the lock of `migrate` (schema.py)
        self.limited = g + "limited"  # the queues with limits at claim (claim_limits.py)

    @property
    def registry(self) -> list[str]:
        """KEYS of the registry scripts: the workers hash, the last-seen zset, the details hash."""
        return [self.workers, self.seen, self.worker_details]

    def q(self, queue: str) -> str:
        """The key prefix of one queue: its hash tag keeps all its keys on one Cluster slot."""
        return f"{{{self._prefix}:{queue}}}:"

    def aside(self, queue: str, version: str) -> str:
        """The list of the queue's inbox entries in wire format `version`, which ingest set aside
        for a newer taskheap (lib.lua)."""
        return self.q(queue) + f"inbox:v{version}"

    def state_set(self, queue: str, state: JobState) -> str:
        return self.q(queue) + f"state:{state}"

    def queue_keys(self, queue: str) -> list[str]:
        """KEYS of a script that ingests: the queue's prefix, and when standalone the id index and
        the known queues."""
        return [self.q(queue)] if self.cluster else [self.q(queue), self.index, self.queues]
