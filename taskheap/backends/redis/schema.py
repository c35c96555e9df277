"""The schema of a Redis store: its version, an int under `{<prefix>}:version`, and the numbered
steps that bring an older store up to SCHEMA_VERSION, which `migrate` runs under a lock.

Versions:
  1  inbox entries in wire format 1; job hashes as lua/lib.lua lists them
  2  inbox entries may be in wire format 2 (with meta), job hashes may hold `meta`, and a queue
     may have `inbox:v<N>` lists of entries set aside for a newer taskheap

A step is a function of the client and the keys that may rewrite data. It is idempotent (a
migrator that outlived its lock may run it again beside the next one) and takes well under
LOCK_TTL, or extends the lock. The next version is one more entry in STEPS.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import cast

from redis.exceptions import LockError

from ...errors import BackendError
from .client import Client
from .keys import Keys

LOCK_TTL = 30.0  # seconds: the migration lock's life when its holder dies
LOCK_WAIT = 60.0  # seconds a migrator waits for another to finish

Step = Callable[[Client, Keys], None]


def _wire_format_2(client: Client, keys: Keys) -> None:
    """1 -> 2: wire format 2 inbox entries, `meta` in job hashes, the `inbox:v<N>` lists. Data of
    schema 1 reads unchanged under 2 (ingest reads wire format 1 forever; a hash without `meta`
    is a job without meta): nothing to rewrite."""


STEPS: tuple[Step, ...] = (_wire_format_2,)  # STEPS[n - 1] brings a store from version n to n + 1
SCHEMA_VERSION = 1 + len(STEPS)


def migrate(client: Client, keys: Keys, where: str) -> None:
    """Bring the store `where` names to SCHEMA_VERSION, safe from many processes at once: under
    a lock (SET NX PX, waiting for another migrator to finish) read the stored version, write
    the current one to a new store, or run the steps from the stored one on, recording each
    version reached. A store at a newer version is refused. A store at this version needs
    no lock."""
    if _stored(client, keys, where) == SCHEMA_VERSION:
        return
    lock = client.lock(keys.migrating, timeout=LOCK_TTL, sleep=0.05)
    if not lock.acquire(blocking_timeout=LOCK_WAIT):
        raise BackendError(
            f"{where}: another process has held the migration lock {keys.migrating} for over"
            f" {LOCK_WAIT:g} s (delete the key if none is migrating)"
        )
    try:
        stored = _stored(client, keys, where)
        if stored is None:  # a new store
            client.set(keys.version, SCHEMA_VERSION)
            return
        for version in range(stored, SCHEMA_VERSION):
            STEPS[version - 1](client, keys)
            client.set(keys.version, version + 1)
    finally:
        with suppress(LockError):  # it expired: another migrator may have run the (idempotent) steps too
            lock.release()


def _stored(client: Client, keys: Keys, where: str) -> int | None:
    """The store's schema version (None: a new store); refused when this code cannot read it."""
    stored = cast(str | None, client.get(keys.version))
    if stored is None:
        return None
    version = int(stored) if stored.isdigit() else 0
    if version > SCHEMA_VERSION:
        raise BackendError(
            f"{where} holds taskheap schema {version}, this version reads up to {SCHEMA_VERSION}:"
            " upgrade taskheap"
        )
    if version < 1:
        raise BackendError(f"{where} holds an unreadable taskheap schema version {stored!r}")
    return version
