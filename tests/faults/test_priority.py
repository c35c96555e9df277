"""Priority under load: better-priority jobs enqueued while a backlog of worse ones runs start
ahead of it. An inversion is a start while a better-priority job had been waiting (enqueued,
not started) for longer than the window prefetching may explain."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.conftest import wait_for

from .conftest import ci_on
from .harness import CaseResult, FaultLab, run_case

pytestmark = pytest.mark.faults

LEASE = 2.0
SETTLE = 60.0
WINDOW = 0.5  # seconds: far above what a worker's prefetch (runs that start within 20 ms) holds


def priority_run(lab: FaultLab, backlog: int, urgent: int) -> CaseResult:
    """A backlog of priority-9 jobs, two workers on it, then priority-1 jobs enqueued one at a
    time while it runs. Recovery: per urgent job, from its enqueue until its start."""
    lab.prefetch_window = WINDOW
    lab.enqueue(backlog, seconds=0.02, priority=9)
    workers = [lab.worker("--concurrency", "2") for _ in range(2)]
    wait_for(lab.ledger.events, 30, "the backlog running")
    keys = []
    for _ in range(urgent):
        keys += lab.enqueue(1, seconds=0.02, priority=1)
        time.sleep(0.05)  # spread over the backlog's run: the load's shape, not a wait
    lab.drain(SETTLE)
    assert all(w.alive() for w in workers)
    starts = {e.key: e.at for e in lab.ledger.events() if e.kind == "start"}
    result = lab.verdict(
        "priority under load", recovery_s=[starts[key] - lab.enqueued_at[key] for key in keys]
    )
    assert starts[keys[-1]] < max(starts.values()), "the backlog ran out before the urgent jobs came"
    assert result.inversions == 0, result
    return result


@pytest.mark.parametrize("fault_backend", ci_on("sqlite"), indirect=True)
@pytest.mark.parametrize(
    "backlog, urgent", [(300, 10), pytest.param(3000, 100, marks=pytest.mark.faults_full)], ids=["ci", "full"]
)
def test_priority_under_load(make_lab: Callable[..., FaultLab], backlog: int, urgent: int) -> None:
    run_case(lambda: priority_run(make_lab(lease=LEASE), backlog, urgent))
