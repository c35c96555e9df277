"""The task module flood workers run: `-A tests.faults.flood_tasks:app`.

A flood has too many jobs for the fault ledger's fsync per event; each run here appends
"<key>\n" to FLOOD_LEDGER through one O_APPEND descriptor per process (a single write() per
line, so lines from several processes never interleave), without fsync: floods kill nothing,
they measure memory and the store's size, and the count of distinct keys is what ran.

Environment: TASKHEAP_URL, FLOOD_LEDGER, FLOOD_RETENTION (the App's result_ttl, seconds: what
the workers prune by).
"""

from __future__ import annotations

import os
from typing import Any

import taskheap

_ledger: int | None = None


def _note(key: str) -> None:
    global _ledger
    if _ledger is None:
        _ledger = os.open(os.environ["FLOOD_LEDGER"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(_ledger, f"{key}\n".encode())


def declare(app: taskheap.App) -> dict[str, taskheap.Task[..., Any]]:
    """Register the flood tasks on `app`; by name."""

    @app.task(name="tiny")
    def tiny(key: str) -> None:
        _note(key)

    @app.task(name="answer")
    def answer(key: str, size: int) -> str:
        """A completion that stores a result of `size` characters."""
        _note(key)
        return "x" * size

    return {t.name: t for t in (tiny, answer)}


app = taskheap.App(result_ttl=float(os.environ.get("FLOOD_RETENTION", "2")))
TASKS = declare(app)
