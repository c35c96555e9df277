"""Embedded backend: one SQLite file in WAL mode, shared by many worker processes on one host.

Every state change is one short IMMEDIATE transaction; claim is one UPDATE … RETURNING over a
partial index of queued jobs ordered by (queue, rank, id), so claim, complete and retry are
O(log n) in queue depth. Connections are per thread. Idle workers watch `PRAGMA data_version`
(a read of the shared WAL index, no disk I/O), which changes whenever another connection commits.
"""

from .backend import SQLiteBackend, parse_path

__all__ = ["SQLiteBackend", "parse_path"]
