"""Workers as real subprocesses: outcomes, bad input, crashes, signals, timeouts, scale."""

from __future__ import annotations

import signal

import pytest

import taskheap
from taskheap.backends.base import NewJob
from taskheap.job import JobState

from ..conftest import wait_for
from .conftest import (
    EVERY_BACKEND,
    Lab,
    a_sigkilled_workers_job_runs_again_after_lease_expiry,
    three_workers_run_every_job_exactly_once,
)


def test_worker_runs_jobs_and_stores_their_results(lab: Lab) -> None:
    handles = [lab.tasks.add.enqueue(i, 1) for i in range(20)]
    worker = lab.worker("--burst")
    assert worker.wait() == 0, worker.output()
    assert [h.result(timeout=1) for h in handles] == [i + 1 for i in range(20)]
    info = handles[0].info()
    assert info.status == JobState.SUCCEEDED and info.attempts == 1
    assert info.started_at is not None and info.finished_at is not None
    assert info.worker and info.enqueued_at <= info.started_at <= info.finished_at


def test_transient_failures_are_retried_with_backoff_until_success(lab: Lab) -> None:
    handle = lab.tasks.flaky.enqueue("flaky-key", 2)
    worker = lab.worker("--burst")
    assert worker.wait() == 0, worker.output()
    assert handle.result(timeout=1) == "recovered"
    assert handle.info().attempts == 3
    assert len(lab.marks("flaky-key")) == 3


def test_exhausted_retries_make_a_dead_letter_with_its_traceback(lab: Lab) -> None:
    handle = lab.tasks.always_fails.enqueue()
    worker = lab.worker("--burst")
    assert worker.wait() == 0, worker.output()
    info = handle.info()
    assert info.status == JobState.DEAD and info.attempts == 3
    assert info.error == "ValueError: this task always fails"
    assert info.traceback and "always_fails" in info.traceback
    with pytest.raises(taskheap.JobFailed, match="always fails"):
        handle.result(timeout=1)


def test_a_malformed_payload_and_an_unencodable_result_die_while_the_worker_keeps_going(lab: Lab) -> None:
    lab.app.backend.enqueue(
        [NewJob("0MALFORMED", "add", "default", 5, 5.0, "{oops", 1.0, None, 3, None, None)]
    )
    bad_result = lab.tasks.not_json.enqueue()
    good = lab.tasks.add.enqueue(2, 3)
    worker = lab.worker("--burst")
    assert worker.wait() == 0, worker.output()
    assert good.result(timeout=1) == 5
    malformed = lab.app.get_job("0MALFORMED").info()
    assert malformed.status == JobState.DEAD and "malformed payload" in (malformed.error or "")
    assert "not JSON-serializable" in (bad_result.info().error or "")


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_a_child_that_closes_its_pipe_and_lives_on_is_killed_and_its_job_fails(lab: Lab) -> None:
    job = lab.tasks.closes_pipe.enqueue()
    after = lab.tasks.add.enqueue(1, 1)
    worker = lab.worker("--pool", "process", "--concurrency", "1", "--burst")
    assert worker.wait(timeout=60) == 0, worker.output()
    info = job.info()
    assert info.status == JobState.DEAD, info
    assert (
        info.error == "worker child process died (it closed its pipe and was still running 5s later: killed)"
    )
    assert after.result(timeout=1) == 2  # the slot goes on, with a new child


@pytest.mark.parametrize("backend_url", EVERY_BACKEND, indirect=True)
def test_sigkilled_worker_job_runs_again_after_lease_expiry(short_lease_lab: Lab) -> None:
    a_sigkilled_workers_job_runs_again_after_lease_expiry(short_lease_lab, short_lease_lab.tasks.sleepy)


def running(pid: int) -> bool:
    """Whether the process exists and is not a zombie (its parent not having reaped it yet)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_sigkilled_process_pool_worker_takes_its_children_with_it(short_lease_lab: Lab) -> None:
    """An orphaned child ran its job on beside the rerun another worker started after the lease."""
    lab = short_lease_lab
    lab.tasks.sleepy.enqueue("orphan", 60)
    victim = lab.worker("--pool", "process", "--concurrency", "1")
    wait_for(lambda: lab.marks("orphan.start"), timeout=30, what="the job to start in a child")
    (child,) = map(int, lab.marks("orphan.start"))
    assert child != victim.proc.pid and running(child)
    victim.signal(signal.SIGKILL)
    victim.wait()
    wait_for(lambda: not running(child), timeout=10, what="the child to die with its worker")


def test_sigterm_lets_the_running_job_finish_and_returns_unstarted_ones(lab: Lab) -> None:
    slow = lab.tasks.sleepy.options(priority=0).enqueue("slow", 1.5)
    waiting = [lab.tasks.add.options(priority=9).enqueue(i, 0) for i in range(3)]
    worker = lab.worker("--concurrency", "1", "--grace", "10")
    wait_for(lambda: lab.marks("slow.start"), what="the slow job to start")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output()
    assert slow.status() == "succeeded"
    assert [h.status() for h in waiting] == ["queued"] * 3
    assert [h.info().attempts for h in waiting] == [0] * 3
    assert lab.app.stats()["workers"] == []


def test_heartbeats_keep_a_job_finishing_in_the_grace_period_leased(short_lease_lab: Lab) -> None:
    lab = short_lease_lab  # leases of 1 s: without heartbeats the job would be taken over
    slow = lab.tasks.sleepy.enqueue("graceful", 3)
    stopping = lab.worker("--grace", "10")
    wait_for(lambda: lab.marks("graceful.start"), what="the job to start")
    stopping.signal(signal.SIGTERM)
    other = lab.worker()
    assert stopping.wait(timeout=30) == 0, stopping.output()
    assert slow.result(timeout=5) == "graceful"
    other.signal(signal.SIGTERM)
    assert other.wait(timeout=30) == 0, other.output()
    assert len(lab.marks("graceful.start")) == 1 and slow.info().attempts == 1


def test_job_outliving_the_grace_period_is_failed_not_lost(lab: Lab) -> None:
    slow = lab.tasks.sleepy.enqueue("stuck", 30)
    worker = lab.worker("--grace", "0.3")
    wait_for(lambda: lab.marks("stuck.start"), what="the job to start")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    info = slow.info()
    assert info.status == JobState.RETRYING and "grace" in (info.error or "")


def test_second_sigint_exits_at_once(lab: Lab) -> None:
    lab.tasks.sleepy.enqueue("hang", 30)
    worker = lab.worker("--grace", "30")
    wait_for(lambda: lab.marks("hang.start"), what="the job to start")
    worker.signal(signal.SIGINT)
    wait_for(lambda: "stopping" in worker.output(), what="the worker to start stopping")
    worker.signal(signal.SIGINT)
    assert worker.wait(timeout=5) == 130


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_job_running_past_its_timeout_fails(lab: Lab, pool: str) -> None:
    handle = lab.tasks.sleepy.options(timeout=1, retries=0).enqueue(f"timeout-{pool}", 5)
    after = lab.tasks.add.enqueue(1, 1)
    worker = lab.worker("--pool", pool, "--concurrency", "1", "--burst")
    assert worker.wait(timeout=30) == 0, worker.output()
    info = handle.info()
    # one spelling on every backend, whether the store gives the 1 back as an int or a float
    assert info.status == JobState.DEAD and info.error == "TimeoutError: job ran longer than its 1s timeout"
    assert after.result(timeout=1) == 2
    if pool == "process":
        assert lab.marks(f"timeout-{pool}.done") == [], "the child process was really killed"


def test_process_pool_runs_jobs(lab: Lab) -> None:
    handles = [lab.tasks.add.enqueue(i, i) for i in range(10)]
    worker = lab.worker("--pool", "process", "--concurrency", "2", "--burst")
    assert worker.wait(timeout=60) == 0, worker.output()
    assert [h.result(timeout=1) for h in handles] == [2 * i for i in range(10)]


def test_three_workers_run_every_job_exactly_once(lab: Lab) -> None:
    three_workers_run_every_job_exactly_once(lab, lab.tasks.record, lab.tasks.record)


def test_a_better_job_enqueued_later_overtakes_waiting_slow_jobs(lab: Lab) -> None:
    """Auto prefetch claims nothing ahead for slow jobs, so strict priority holds."""
    for i in range(5):
        lab.tasks.ordered.options(priority=9).enqueue(f"slow{i}", 0.15)
    worker = lab.worker("--concurrency", "1", "--burst")
    wait_for(lambda: len(lab.marks("order.log")) >= 2, what="two slow jobs to start")
    lab.tasks.ordered.options(priority=1).enqueue("urgent", 0)
    assert worker.wait() == 0, worker.output()
    order = lab.marks("order.log")
    assert order.index("urgent") <= 3, order
