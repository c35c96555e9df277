"""Job expiry in real workers: a job past its expiry before its first start never runs (its
function is never called), whether a claim or the maintenance duty gets to it first; one the
claims cannot reach (still scheduled) is cancelled by maintenance; either way it ends cancelled,
"expired", counted as cancelled."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from taskheap.job import JobState
from taskheap.worker import Worker
from tests.conftest import wait_for

from .conftest import Lab

PAST = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)


def runs(lab: Lab) -> list[str]:
    return [line for path in lab.path.glob("runs-*.log") for line in path.read_text().split()]


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_a_job_past_its_expiry_is_cancelled_and_never_runs(lab: Lab, pool: str) -> None:
    expired = lab.tasks.record.options(expires=PAST).enqueue(1)
    kept = lab.tasks.record.options(expires=3600).enqueue(2)
    worker = lab.worker("--pool", pool, "--concurrency", "2", "--burst")
    assert worker.wait(60) == 0, worker.output()
    info = expired.info()
    assert (info.status, info.error, info.failed_attempts) == (JobState.CANCELLED, "expired", [])
    assert info.attempts in (0, 1), "cancelled by a claim (first attempt) or by maintenance (none)"
    assert kept.result(timeout=1) == 2
    assert runs(lab) == ["2"], "the expired job's function never ran"


def test_maintenance_cancels_an_expired_job_no_claim_reaches(lab: Lab) -> None:
    handle = lab.tasks.record.options(expires=PAST, delay=3600).enqueue(1)
    worker = lab.worker("--concurrency", "1")
    wait_for(lambda: handle.status() == JobState.CANCELLED, timeout=30, what="the expired job cancelled")
    info = handle.info()
    assert (info.error, info.attempts, info.started_at) == ("expired", 0, None)

    def counted() -> int:
        return sum(row.cancelled for row in lab.app.admin.totals() if row.task == "record")

    wait_for(lambda: counted() == 1, timeout=30, what="the expiry counted as cancelled")
    worker.stop()
    assert runs(lab) == []
    assert f"1 job(s) not started by their expiry, cancelled (expired): {handle.id}" in worker.output()


def test_a_claim_past_the_expiry_is_cancelled_through_the_lease_without_a_slot(lab: Lab) -> None:
    """The claim-time path alone, deterministically: what a worker does with a job its claim
    flagged past its expiry, before any maintenance could see it."""
    handle = lab.tasks.record.options(expires=PAST).enqueue(1)
    worker = Worker(lab.app, concurrency=1)
    claimed = lab.app.backend.claim(["default"], worker.id, 10, lab.app.lease, lab.app.store_time())
    assert [(job.id, job.past_expiry) for job in claimed] == [(handle.id, True)]
    worker._start(claimed, time.monotonic())
    worker._settle()
    info = handle.info()
    assert (info.status, info.error, info.attempts) == (JobState.CANCELLED, "expired", 1)
    assert runs(lab) == [] and not worker.pool.take_unstarted()
