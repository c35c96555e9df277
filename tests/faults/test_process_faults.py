"""What a job can do to its worker: a child process that dies (`--pool process`), and jobs
over their time limit (sleeping, busy in Python, or in a C call holding the GIL) in either pool.
Each bad job ends dead with its reason after its retries; the worker goes on with every slot."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import BACKENDS, ci_on
from .harness import CaseResult, FaultLab, run_case, slots_all_alive

pytestmark = pytest.mark.faults

LEASE = 2.0
SETTLE = 60.0
TIMEOUT = 0.5


def crash_run(lab: FaultLab) -> CaseResult:
    """A child exiting and a child segfaulting, each retried twice, beside healthy jobs, once
    both slots' children have run a job. Recovery: from a crashing job's start (the child dies
    right after it) until a new child process started a job: the slot's replacement at work."""
    warm_up = lab.enqueue(2, seconds=0.5)
    worker = lab.worker("--pool", "process", "--concurrency", "2")
    lab.drain(SETTLE)
    assert lab.ledger.all_ran_at_once(warm_up)
    crashes = lab.enqueue(1, task="crash", how="exit") + lab.enqueue(1, task="crash", how="segv")
    lab.enqueue(6, seconds=0.1)
    lab.drain(SETTLE)
    slots_all_alive(lab, worker, 2)
    events = [e for e in lab.ledger.events() if e.kind == "start"]
    recovery = []
    for i, event in enumerate(events):
        if event.key in crashes:
            seen = {e.pid for e in events[: i + 1]}
            recovery.append(next(e.at for e in events[i + 1 :] if e.pid not in seen) - event.at)
    result = lab.verdict("crashing child", "process pool", recovery_s=recovery)
    died = "worker child process died (exit code"
    assert result.dead_by_reason == {f"{died} N)": 1, f"{died} -N)": 1}, result  # -11: SIGSEGV
    assert result.duplicate_starts == 4, "each crash job: 3 attempts"
    return result


@pytest.mark.parametrize("fault_backend", ci_on("sqlite"), indirect=True)
def test_a_crashing_child_dies_after_its_retries_and_the_worker_goes_on(
    make_lab: Callable[..., FaultLab],
) -> None:
    run_case(lambda: crash_run(make_lab(lease=LEASE)))


# How long each overrunning task would run if let be: past its timeout; a C call holding the GIL
# well within the lease less a heartbeat's interval, as it freezes a thread-pool worker whole,
# its heartbeats too (longer, and its lease expires: the job is rescued, not timed out).
OVERRUNS = {"job": 3.0, "spin": 3.0, "hold_gil": 0.9}
TIMEOUT_LEASE = 3.0
#: Longer than the timeout: a process-pool slot must not start a job's clock before its new child
#: (after a timeout kills the last) has imported the app.
IMPORT_DELAY = "0.7"


def timeout_run(lab: FaultLab, pool: str) -> CaseResult:
    """Jobs over their time limit, retried once, then dead with the timeout as their reason.
    Recovery: from the moment an overrunning attempt reached its timeout until the job's next
    attempt started (the failure, its backoff, a claim)."""
    overrun = {
        task: lab.enqueue(1, task=task, seconds=seconds, timeout=TIMEOUT, retries=1)[0]
        for task, seconds in OVERRUNS.items()
    }
    worker = lab.worker("--pool", pool, "--concurrency", "2", env={"FAULT_IMPORT_DELAY": IMPORT_DELAY})
    lab.drain(SETTLE)
    slots_all_alive(lab, worker, 2)
    recovery = []
    for key in overrun.values():
        runs = [e.at for e in lab.ledger.events() if e.kind == "start" and e.key == key]
        assert len(runs) == 2, f"{key}: {len(runs)} attempts, not 2"
        recovery.append(runs[1] - (runs[0] + TIMEOUT))
    result = lab.verdict("job over its time limit", f"{pool} pool", recovery_s=recovery)
    assert result.dead_by_reason == {"TimeoutError: job ran longer than its Ns timeout": 3}, (
        f"{result.dead_by_reason}\n{worker.output()}"
    )
    return result


# The CI subset: the thread pool on SQLite, the process pool on PostgreSQL; the rest in the full run.
TIMEOUT_CI = {("sqlite", "thread"), ("postgres", "process")}


@pytest.mark.parametrize(
    "fault_backend, pool",
    [
        pytest.param(backend, pool, marks=() if (backend, pool) in TIMEOUT_CI else pytest.mark.faults_full)
        for backend in BACKENDS
        for pool in ("thread", "process")
    ],
    indirect=["fault_backend"],
)
def test_jobs_over_their_time_limit_are_failed_and_cost_no_slot(
    make_lab: Callable[..., FaultLab], pool: str
) -> None:
    run_case(lambda: timeout_run(make_lab(lease=TIMEOUT_LEASE), pool))
