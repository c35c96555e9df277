"""A running job's progress: what `current_job().progress(current, total, message)` accepts, the
JSON it is stored as (its own field, not `meta`), and what `JobInfo.progress` reads back.

A run's reports wait in this process (`pending`) until the worker's control thread writes them,
at most one write a job about every second, the last one kept; the worker writes what is left
of a finished run before acknowledging it. A process-pool child sends each report to its parent
through the slot's pipe instead (`set_sink`).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping
from typing import Any

MAX_MESSAGE = 200  # characters of a progress message

_lock = threading.Lock()
_pending: dict[tuple[str, str], str] = {}  # (job id, its run's token) -> its latest report, unwritten


def encode(current: float, total: float | None = None, message: str | None = None) -> str:
    """The stored JSON of a report; ValueError/TypeError naming what is wrong."""
    for name, value in (("current", current), ("total", total)):
        if value is None and name == "total":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"progress {name} must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"progress {name} must be a finite number >= 0, got {value!r}")
    if message is not None:
        if not isinstance(message, str):
            raise TypeError(f"progress message must be a str, got {type(message).__name__}")
        if len(message) > MAX_MESSAGE:
            raise ValueError(f"progress message too long: {len(message)} characters, over {MAX_MESSAGE}")
    return json.dumps({"current": current, "total": total, "message": message})


def report(job_id: str, token: str, progress: str) -> None:
    """A run's report (`token`: its lease's), kept for the control thread or sent to the parent."""
    _sink(job_id, token, progress)


def _keep(job_id: str, token: str, progress: str) -> None:
    with _lock:
        _pending[job_id, token] = progress


_sink: Callable[[str, str, str], None] = _keep


def set_sink(sink: Callable[[str, str, str], None]) -> None:
    """(A process-pool child, once.) Send reports there instead of keeping them here."""
    global _sink
    _sink = sink


def take(tokens: Mapping[str, str]) -> dict[str, str]:
    """The unwritten reports of these runs (job id -> the token of the run held now), taken off;
    a report of an earlier run of the job (a thread abandoned at its timeout, still reporting) is
    dropped, never written under the new run's token nor in place of the new run's report."""
    with _lock:
        taken = {
            job_id: _pending.pop((job_id, token))
            for job_id, token in tokens.items()
            if (job_id, token) in _pending
        }
        for stale in [key for key in _pending if key[0] in tokens]:
            del _pending[stale]
    return taken


def decoded(progress: str | None, updated_at: float | None) -> dict[str, Any] | None:
    """`JobInfo.progress`: the stored report with `updated_at` (the store's time of the write);
    None without one, or for one that is not a JSON object (a row written by hand)."""
    if progress is None:
        return None
    try:
        value = json.loads(progress)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return {**value, "updated_at": updated_at}
