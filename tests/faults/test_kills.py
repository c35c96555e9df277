"""Workers killed: SIGKILL mid-job at random moments, SIGTERM (graceful), TERM then KILL, and
every worker killed at once. Nothing accepted is lost, no stale completion is accepted, and a
job runs more than once only because a worker running it was killed."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection

import pytest

from tests.conftest import wait_for

from .conftest import ci_on
from .harness import CaseResult, FaultLab, FaultWorker, run_case

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
    """Once `victim` is running a job, SIGKILL it at a random moment within the next 0.3 s
    (within the job's run: the jobs take 0.6 s); when, and the keys it was running."""
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
    lab.enqueue(jobs, seconds=0.6)
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
    [(1, 10), pytest.param(3, 200, marks=pytest.mark.faults_full)],
    ids=["ci", "full"],
)
def test_sigkill_mid_job_at_random_moments(make_lab: Callable[..., FaultLab], kills: int, jobs: int) -> None:
    rng = random.Random()
    run_case(lambda: sigkill_run(make_lab(lease=LEASE), kills, jobs, rng))


def started_by(lab: FaultLab, worker: FaultWorker) -> Callable[[], bool]:
    return lambda: bool([e for e in lab.ledger.events() if e.kind == "start" and e.pid == worker.pid])


def sigterm_run(lab: FaultLab) -> CaseResult:
    """Recovery: from the SIGTERM until the replacement worker, started at that moment, began
    its first job (its start-up included): the jobs the stopping worker held but had not
    started are released at once, not left to their leases."""
    lab.enqueue(8, seconds=1.0)
    victim = lab.worker("--concurrency", "2", "--prefetch", "2")
    wait_for(lambda: len(lab.ledger.running([victim.pid])) == 2, 30, "two jobs running")
    running = {e.key: e.nonce for e in lab.ledger.running([victim.pid])}
    at = victim.term()
    replacement = lab.worker("--concurrency", "2")
    wait_for(started_by(lab, replacement), 30, "the replacement started a job")
    first = min(e.at for e in lab.ledger.events() if e.kind == "start" and e.pid == replacement.pid)
    assert victim.wait(30) == 0, victim.output()
    lab.drain(SETTLE)
    stored = {key: found and found.result for key, found in lab.records(running).items()}
    assert stored == {key: f'"{nonce}"' for key, nonce in running.items()}, "running jobs were not finished"
    result = lab.verdict("sigterm", recovery_s=[first - at])
    assert result.duplicate_starts == 0, "a graceful stop ran a job twice"
    return result


def term_then_kill_run(lab: FaultLab, rng: random.Random) -> CaseResult:
    """SIGTERM, then SIGKILL within the grace period (a supervisor that does not wait).
    Recovery: from the SIGKILL until the first job the worker was running started again on
    the other worker."""
    lab.enqueue(6, seconds=1.0)
    other = lab.worker("--concurrency", "2")
    victim = lab.worker("--concurrency", "2", "--prefetch", "2")
    wait_for(lambda: len(lab.ledger.running([victim.pid])) == 2, 30, "two jobs running")
    victim.term()
    time.sleep(rng.uniform(0.05, 0.5))  # the fault's random timing
    at, running = victim.kill(), [e.key for e in lab.ledger.running([victim.pid])]
    victim.wait(10)
    recovery = [resumed(lab, running, at, LEASE * 10)] if running else []
    lab.drain(SETTLE)
    assert other.alive(), other.output()
    reruns_explained(lab, [victim.pid])
    return lab.verdict("sigterm then sigkill", recovery_s=recovery)


def everything_killed_run(lab: FaultLab, workers: int, jobs: int) -> CaseResult:
    """Every worker SIGKILLed in the same instant, then new ones started. Recovery: from the
    kill until the first job any of them was running started again on a new worker (the
    start-up and the leases' expiry)."""
    lab.enqueue(jobs, seconds=0.3)
    victims = [lab.worker("--concurrency", "2") for _ in range(workers)]
    for victim in victims:
        wait_for(started_by(lab, victim), 30, f"worker {victim.pid} running")
    at = min(victim.kill() for victim in victims)
    for victim in victims:
        victim.wait(10)
    running = [e.key for e in lab.ledger.running(v.pid for v in victims)]
    for _ in range(2):
        lab.worker("--concurrency", "2")
    recovery = [resumed(lab, running, at, LEASE * 10)] if running else []
    lab.drain(SETTLE)
    reruns_explained(lab, [v.pid for v in victims])
    return lab.verdict("everything killed at once", recovery_s=recovery)


@pytest.mark.parametrize("fault_backend", ci_on("sqlite"), indirect=True)
def test_sigterm_finishes_running_jobs_and_releases_the_rest(make_lab: Callable[..., FaultLab]) -> None:
    run_case(lambda: sigterm_run(make_lab(lease=LEASE)))


@pytest.mark.parametrize("fault_backend", ci_on("redis"), indirect=True)
def test_sigterm_then_sigkill(make_lab: Callable[..., FaultLab]) -> None:
    rng = random.Random()
    run_case(lambda: term_then_kill_run(make_lab(lease=LEASE), rng))


@pytest.mark.parametrize("fault_backend", ci_on("postgres"), indirect=True)
@pytest.mark.parametrize(
    "workers, jobs", [(3, 24), pytest.param(4, 400, marks=pytest.mark.faults_full)], ids=["ci", "full"]
)
def test_everything_killed_at_once(make_lab: Callable[..., FaultLab], workers: int, jobs: int) -> None:
    run_case(lambda: everything_killed_run(make_lab(lease=LEASE), workers, jobs))
