"""Leases under contention: a worker paused past its lease (its late completion must be
refused), and many workers racing for many short jobs (no job may start twice)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import wait_for

from .conftest import ci_on
from .harness import CaseResult, FaultLab, run_case

pytestmark = pytest.mark.faults

LEASE = 2.0
SETTLE = 60.0


def pause_run(lab: FaultLab) -> CaseResult:
    """SIGSTOP a worker running two jobs for longer than their lease; another worker takes them
    over; SIGCONT the first while the second still runs them. The paused worker's runs end and
    send their stale tokens: refused, the takeover's results kept. (They usually end first, their
    sleeps over; but the SIGSTOP may land after a run's "start" line is written and before its
    sleep begins, and then that run ends up to its 1.5 s after SIGCONT, as late as the takeover's.)
    Recovery: from the SIGSTOP until the first of the paused jobs started on the other worker."""
    keys = lab.enqueue(2, seconds=1.5)
    paused = lab.worker("--concurrency", "2", "--prefetch", "0")
    wait_for(lambda: len(lab.ledger.running([paused.pid])) == 2, 30, "both jobs running")
    at = paused.stop()
    other = lab.worker("--concurrency", "2")
    wait_for(lambda: len(lab.ledger.running([other.pid])) == 2, LEASE * 10, "both jobs taken over")
    takeover = lab.ledger.first_start(keys, after=at)
    assert takeover is not None
    paused.cont()
    wait_for(
        lambda: len([e for e in lab.ledger.events() if e.kind == "done" and e.pid == paused.pid]) == 2,
        30,
        "the paused worker to finish both its runs (at most their 1.5 s after SIGCONT)",
    )
    wait_for(lambda: "lost the lease" in paused.output(), 30, "the paused worker told its leases were lost")
    lab.drain(SETTLE)
    assert paused.alive() and other.alive(), paused.output() + other.output()
    result = lab.verdict("pause past the lease", recovery_s=[takeover - at])
    assert result.duplicate_starts == 2, result
    return result


@pytest.mark.parametrize("fault_backend", ci_on("redis"), indirect=True)
def test_a_worker_paused_past_its_lease_has_its_late_completions_refused(
    make_lab: Callable[..., FaultLab],
) -> None:
    run_case(lambda: pause_run(make_lab(lease=LEASE)))


def racing_run(lab: FaultLab, workers: int, jobs: int) -> CaseResult:
    """Several workers, many short jobs, no fault: the queue paused while the jobs are enqueued
    and the workers start, resumed once every worker is registered, so all race for the same
    jobs. Every job starts once. No recovery time (nothing is injected)."""
    lab.app.admin.pause("default")
    lab.enqueue(jobs, seconds=0.02)
    racers = [lab.worker("--concurrency", "4") for _ in range(workers)]
    wait_for(lambda: len(lab.app.admin.workers()) == workers, 30, "every worker registered")
    lab.app.admin.resume("default")
    lab.drain(SETTLE)
    result = lab.verdict("racing claimers")
    ran = {e.pid for e in lab.ledger.events()}
    assert len(ran) == workers, f"only {len(ran)} of {workers} workers ran jobs: they did not all race"
    assert all(r.alive() for r in racers)
    assert result.duplicate_starts == 0, result
    for racer in racers:  # before the next repeat's: six workers a run, each with its connections
        racer.close()
    return result


@pytest.mark.parametrize("fault_backend", ci_on("sqlite", "postgres"), indirect=True)
@pytest.mark.parametrize(
    "workers, jobs", [(3, 300), pytest.param(6, 5000, marks=pytest.mark.faults_full)], ids=["ci", "full"]
)
def test_racing_claimers_start_every_job_once(
    make_lab: Callable[..., FaultLab], workers: int, jobs: int
) -> None:
    run_case(lambda: racing_run(make_lab(lease=LEASE), workers, jobs))
