"""Workers killed: SIGKILL mid-job at random moments, SIGTERM (graceful), TERM then KILL, and
every worker killed at once. Nothing accepted is lost, no stale completion is accepted, and a
job runs more than once only because a worker running it was killed."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection

import pytest

from tests.conftest import wait_for

from .harness import CaseResult, FaultLab, FaultWorker, record, repeats

pytestmark = pytest.mark.faults

LEASE = 2.0
SETTLE = 60.0


def reruns_explained(lab: FaultLab, killed: Collection[int]) -> None:
    """Every start but a job's last was made by a killed worker: nothing else runs a job twice."""
    runs: dict[str, list[int]] = {}
    for event in lab.ledger.events():
        if event.kind == "start":
            runs.setdefault(event.key, []).append(event.pid)
    unexplained = {key: pids for key, pids in runs.items() if set(pids[:-1]) - set(killed)}
    assert not unexplained, f"jobs rerun though no worker running them was killed: {unexplained}"


def kill_mid_job(lab: FaultLab, victim: FaultWorker, rng: random.Random) -> tuple[float, list[str]]:
    """Once `victim` is running a job, SIGKILL it at a random moment within the next 0.3 s;
    when, and the keys it was running."""
    wait_for(lambda: lab.ledger.running([victim.pid]), 30, f"worker {victim.pid} running a job")
    time.sleep(rng.uniform(0.0, 0.3))  # the fault's random timing, not a wait for a condition
    at = victim.kill()
    victim.wait(10)
    return at, [e.key for e in lab.ledger.running([victim.pid])]


def resumed(lab: FaultLab, keys: list[str], since: float, timeout: float) -> float:
    """Seconds from `since` until the first of `keys` started again (any worker)."""
    wait_for(lambda: lab.ledger.first_start(keys, after=since) is not None, timeout, f"{keys} started again")
    again = lab.ledger.first_start(keys, after=since)
    assert again is not None
    return again - since


def sigkill_run(lab: FaultLab, kills: int, jobs: int, rng: random.Random) -> CaseResult:
    """Recovery: from the SIGKILL until the first job the killed worker was running started
    again on another worker (the lease expiring, a rescue, a claim)."""
    lab.enqueue(jobs, seconds=0.2)
    survivor = lab.worker("--concurrency", "2")
    victim = lab.worker("--concurrency", "2")
    killed: list[int] = []
    recovery: list[float] = []
    for _ in range(kills):
        at, running = kill_mid_job(lab, victim, rng)
        killed.append(victim.pid)
        victim = lab.worker("--concurrency", "2")  # the next one to kill
        if running:
            recovery.append(resumed(lab, running, at, LEASE * 10))
    lab.drain(SETTLE)
    assert survivor.alive(), survivor.output()
    reruns_explained(lab, killed)
    return lab.verdict("sigkill mid-job", recovery_s=recovery)


@pytest.mark.parametrize(
    "kills, jobs",
    [(1, 16), pytest.param(3, 200, marks=pytest.mark.faults_full)],
    ids=["ci", "full"],
)
def test_sigkill_mid_job_at_random_moments(make_lab: Callable[..., FaultLab], kills: int, jobs: int) -> None:
    rng = random.Random()
    for _ in range(repeats()):
        result = sigkill_run(make_lab(lease=LEASE), kills, jobs, rng)
        record(result)
        result.check()
