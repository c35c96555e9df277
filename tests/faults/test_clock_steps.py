"""A wall-clock step on a worker, under libfaketime (tests/faketime.py): one worker ten minutes
ahead or behind from its start, and every worker's clock stepping ten minutes ahead mid-run.
Leases, delays and rescues are judged by the store's clock (Redis's and PostgreSQL's own, the
SQLite store's clock), so no live lease is taken over (no duplicate start), no delay ends early,
nothing is lost. There is no recovery to time: nothing should happen."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from taskheap.job import JobState
from tests.conftest import wait_for
from tests.faketime import faked_env, libfaketime

from .conftest import ci_on
from .harness import REPO, CaseResult, FaultLab, run_case

pytestmark = pytest.mark.faults

LEASE = 2.0
JOB_SECONDS = 3.0  # longer than the lease: only heartbeats keep these jobs leased
JOBS = 4  # one per slot of the two workers
SETTLE = 60.0


def delayed_jobs(lab: FaultLab, count: int) -> list[str]:
    """Jobs due in a minute, outside the lab's accepted jobs (the drain would wait for them)."""
    task = lab.tasks["job"].options(delay=60)
    return [task.enqueue(f"delayed-{n}", 0.0).id for n in range(count)]


def promoted_early(lab: FaultLab, ids: list[str]) -> int:
    records = [lab.app.admin.record(job_id) for job_id in ids]
    return sum(1 for r in records if r is None or r.state != JobState.SCHEDULED)


def finish(lab: FaultLab, case: str, mode: str, delayed: list[str]) -> CaseResult:
    lab.drain(SETTLE)
    result = lab.verdict(case, mode)
    result.extra["promoted_early"] = promoted_early(lab, delayed)
    return result


def one_worker_off(lab: FaultLab, library: str, offset: str) -> CaseResult:
    env = faked_env(lab.path, library, str(REPO), FAKETIME=offset)
    off = lab.worker("--concurrency", "2", env=env)
    lab.worker("--concurrency", "2")
    lab.enqueue(JOBS, seconds=JOB_SECONDS)
    delayed = delayed_jobs(lab, 3)
    result = finish(lab, "wall clock 10 min off on one worker", offset, delayed)
    assert off.alive(), off.output()
    return result


def every_clock_steps(lab: FaultLab, library: str) -> CaseResult:
    offset = lab.path / "faketime-offset"
    offset.write_text("+0\n")
    env = faked_env(lab.path, library, str(REPO), FAKETIME_TIMESTAMP_FILE=str(offset), FAKETIME_NO_CACHE="1")
    for _ in range(2):
        lab.worker("--concurrency", "2", env=env)
    keys = lab.enqueue(JOBS, seconds=JOB_SECONDS)
    delayed = delayed_jobs(lab, 3)
    wait_for(lambda: len(lab.ledger.running()) == JOBS, 30, "a job running in every slot")
    offset.write_text("+600\n")
    result = finish(lab, "wall clock steps +10 min on every worker", "", delayed)
    assert len(lab.ledger.starts()) == len(keys)
    return result


def no_takeover(results: list[CaseResult]) -> None:
    for result in results:
        assert result.duplicate_starts == 0, f"live leases taken over: {result.notes}"
        assert result.extra["promoted_early"] == 0


@pytest.mark.parametrize("fault_backend", ci_on("sqlite", "postgres"), indirect=True)
@pytest.mark.parametrize("offset", ["+600", pytest.param("-600", marks=pytest.mark.faults_full)])
def test_a_worker_ten_minutes_off_takes_no_live_lease_and_ends_no_delay_early(
    make_lab: Callable[..., FaultLab], offset: str
) -> None:
    library = libfaketime()
    no_takeover(run_case(lambda: one_worker_off(make_lab(lease=LEASE), library, offset)))


@pytest.mark.parametrize("fault_backend", ci_on("sqlite"), indirect=True)
def test_every_workers_clock_stepping_mid_run_moves_no_lease_or_delay(
    make_lab: Callable[..., FaultLab],
) -> None:
    library = libfaketime()
    no_takeover(run_case(lambda: every_clock_steps(make_lab(lease=LEASE), library)))
