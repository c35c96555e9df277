"""The schema of a Redis store: its version, an int under `{<prefix>}:version`, and the numbered
steps that bring an older store up to the current version, which `migrate` runs under a lock.

Versions:
  1  the layout lua/lib.lua lists. Wire version 2 entries (jobs with meta) were added within it:
     they live on `inbox:v2`, which code before them never reads, and a job hash without `meta`
     is a job without meta, so nothing older misreads anything and no step was needed. So were
     a job's `unknown_since` (postpone; a hash without it has none) and the registry's details
     hash beside the workers' JSON (a worker without details reads with WorkerInfo's defaults,
     and the JSON keeps the fields earlier readers know). So were wire version 3 entries (jobs
     with an expiry, on `inbox:v3`, which code before them never reads), a job's `expires_at`
     (a hash without it never expires), the per-queue `expiring` zset, and the `cancelled`
     per-minute counter (`minutes:cancelled`, a hash that reads as 0 where absent; workers
     before it write the other counters only).

A step is a function of the client and the keys that rewrites data for the next version. It is
idempotent (a migrator that outlived its lock may run it again beside the next one) and takes
well under LOCK_TTL (a longer rewrite is split into several steps). The next version is one more
entry in STEPS. A step that code before it cannot live with (data it would misread) needs those
processes stopped first, said in the CHANGELOG: a running process does not re-read the version,
while one starting later refuses a store newer than it knows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import cast

from redis.exceptions import LockError

from ...errors import BackendError
from .client import Client
from .keys import Keys

LOCK_TTL = 30.0  # seconds: the migration lock's life when its holder dies
LOCK_WAIT = 60.0  # seconds a migrator waits for another to finish

Step = Callable[[Client, Keys], None]

STEPS: tuple[Step, ...] = ()  # STEPS[n - 1] brings a store from version n to n + 1


def current_version(steps: Sequence[Step] = STEPS) -> int:
    return 1 + len(steps)


SCHEMA_VERSION = current_version()


def migrate(client: Client, keys: Keys, where: str, steps: Sequence[Step] = STEPS) -> None:
    """Bring the store `where` names to the version `steps` lead to, safe from many processes at
    once: under a lock (SET NX PX, waiting for another migrator to finish) read the stored
    version, write the current one to a new store, or run the steps from the stored one on,
    recording each version reached. A store at a newer version is refused. A store at this
    version needs no lock."""
    target = current_version(steps)
    if _stored(client, keys, where, target) == target:
        return
    lock = client.lock(keys.migrating, timeout=LOCK_TTL, sleep=0.05)
    if not lock.acquire(blocking_timeout=LOCK_WAIT):
        raise BackendError(
            f"{where}: another process has held the migration lock {keys.migrating} for over"
            f" {LOCK_WAIT:g} s (delete the key if none is migrating)"
        )
    try:
        stored = _stored(client, keys, where, target)
        if stored is None:  # a new store
            client.set(keys.version, target)
            return
        for version in range(stored, target):
            steps[version - 1](client, keys)
            client.set(keys.version, version + 1)
    finally:
        with suppress(LockError):  # it expired: another migrator may have run the (idempotent) steps too
            lock.release()


def _stored(client: Client, keys: Keys, where: str, target: int) -> int | None:
    """The store's schema version (None: a new store); refused when this code cannot read it."""
    stored = cast(str | None, client.get(keys.version))
    if stored is None:
        return None
    version = int(stored) if stored.isdigit() else 0
    if version > target:
        raise BackendError(
            f"{where} holds taskheap schema {version}, this version reads up to {target}: upgrade taskheap"
        )
    if version < 1:
        raise BackendError(f"{where} holds an unreadable taskheap schema version {stored!r}")
    return version
