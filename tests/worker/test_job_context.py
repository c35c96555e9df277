"""The task context and the control-flow exceptions in real worker processes, in thread slots
and in a process slot's child: what `current_job()` saw, and Retry, Snooze, Fail and Cancel carried
back to the worker and into the store."""

from __future__ import annotations

import json

import pytest

import taskheap
from taskheap import current_job
from taskheap.job import JobState
from taskheap.task import JobOptions, JobSpec

from .conftest import Lab

CONTEXT_TASKS = """
import json
import os

import taskheap
from testtasks import OUT, app


@app.task(name="seen", queue="ctx", priority=7, retries=2, backoff=0.0)
def seen(fail_first):
    job = taskheap.current_job()
    with open(os.path.join(OUT, "seen.jsonl"), "a") as f:
        f.write(json.dumps([job.id, job.task, job.queue, job.priority, job.attempt, job.retries,
                            job.headers, os.getpid(), job.enqueued_at]) + "\\n")
    if fail_first and job.attempt == 1:
        raise ConnectionError("first run fails")
    return job.attempt


@app.task(name="controlled", queue="ctx", retries=3, backoff=0.0)
def controlled(kind):
    attempt = taskheap.current_job().attempt
    try:
        if kind == "fail":
            raise taskheap.Fail("permanent: bad url")
        if kind == "snooze" and not os.path.exists(os.path.join(OUT, "snoozed")):
            open(os.path.join(OUT, "snoozed"), "w").close()
            raise taskheap.Snooze(0.2)
        if kind == "retry" and attempt == 1:
            raise taskheap.Retry(delay=0.2)
        if kind == "cancel":
            raise taskheap.Cancel("superseded by a newer upload")
    except Exception:
        return "swallowed"
    return attempt
"""


def context_app(lab: Lab) -> str:
    (lab.path / "ctxtasks.py").write_text(CONTEXT_TASKS)
    return "ctxtasks:app"


def enqueue(lab: Lab, task: str, *args: object) -> str:
    options = JobOptions(queue="ctx", priority=7 if task == "seen" else 5, retries=2 if task == "seen" else 3)
    return lab.app.enqueue(JobSpec(task, args, {}, options)).id


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_current_job_in_a_worker_is_the_running_job(lab: Lab, pool: str) -> None:
    first = enqueue(lab, "seen", False)
    retried = enqueue(lab, "seen", True)
    worker = lab.worker(
        "--pool", pool, "--concurrency", "2", "--queues", "ctx", "--burst", app=context_app(lab)
    )
    assert worker.wait(60) == 0, worker.output()
    rows = [json.loads(line) for line in (lab.path / "seen.jsonl").read_text().splitlines()]
    by_job = sorted((row[0], row[4]) for row in rows)
    assert by_job == sorted([(first, 1), (retried, 1), (retried, 2)])
    for row in rows:
        assert row[1:4] == ["seen", "ctx", 7] and row[5] == 2 and row[6] == {}
    assert (worker.proc.pid in {row[7] for row in rows}) == (pool == "thread")
    for row in rows:
        stored = lab.app.backend.get(row[0])
        assert stored is not None and row[8] == stored.enqueued_at and isinstance(row[8], float)
    assert lab.app.get_job(retried).result(timeout=1) == 2


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_retry_snooze_fail_and_cancel_reach_the_store_from_either_pool(lab: Lab, pool: str) -> None:
    failed = enqueue(lab, "controlled", "fail")
    cancelled = enqueue(lab, "controlled", "cancel")
    snoozed = enqueue(lab, "controlled", "snooze")
    retried = enqueue(lab, "controlled", "retry")
    worker = lab.worker(
        "--pool", pool, "--concurrency", "2", "--queues", "ctx", "--burst", app=context_app(lab)
    )
    assert worker.wait(60) == 0, worker.output()
    dead = lab.app.get_job(failed).info()
    assert (dead.status, dead.attempts, dead.error) == (JobState.DEAD, 1, "Fail: permanent: bad url")
    woken = lab.app.get_job(snoozed).info()
    assert (woken.status, woken.result, woken.attempts, woken.failed_attempts) == (
        JobState.SUCCEEDED,
        1,
        1,
        [],
    )
    again = lab.app.get_job(retried).info()
    assert (again.status, again.result, again.attempts) == (JobState.SUCCEEDED, 2, 2)
    assert [(a.attempt, a.error) for a in again.failed_attempts] == [(1, "Retry: in 0.2s")]
    gone = lab.app.get_job(cancelled).info()
    assert (gone.status, gone.attempts, gone.error, gone.failed_attempts) == (
        JobState.CANCELLED,
        1,
        "superseded by a newer upload",
        [],
    )
    assert "cancelled on attempt 1: superseded by a newer upload" in worker.output()


def test_current_job_outside_a_job_raises_lookup_error() -> None:
    with pytest.raises(LookupError, match="not inside a taskheap job"):
        current_job()


def test_retry_rules_and_delays_are_checked_where_they_are_written() -> None:
    app = taskheap.App("sqlite:///:memory:")
    with pytest.raises(TypeError, match="retry_on must be a tuple of exception classes, got <class"):
        app.task(retry_on=ConnectionError)(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dont_retry_on must be a tuple of exception classes"):
        app.task(dont_retry_on=("ValueError",))(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Snooze delay must be a number of seconds >= 0, got -1"):
        taskheap.Snooze(-1)
    with pytest.raises(ValueError, match="Retry delay must be a number of seconds >= 0, got inf"):
        taskheap.Retry(float("inf"))
    assert not issubclass(taskheap.JobControl, Exception)
    controls = (taskheap.Retry, taskheap.Snooze, taskheap.Fail, taskheap.Cancel)
    assert all(issubclass(c, taskheap.JobControl) for c in controls)
