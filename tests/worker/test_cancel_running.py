"""Cancelling running jobs in real worker processes: the request reaches the worker's control
thread within about a second; a thread task that polls `current_job().cancelled` stops, an async
task's coroutine is cancelled, a process child is killed after `--cancel-grace`; River's race
rule (a success stays succeeded, a failure after the request is cancelled, never retried); and
a request for a job whose worker was killed is honoured by the Rescuer."""

from __future__ import annotations

import signal

import taskheap
from taskheap.handle import JobHandle
from taskheap.job import JobState
from taskheap.task import JobOptions, JobSpec
from taskheap.worker.maintenance import CANCEL_LOST

from ..conftest import wait_for
from .conftest import SQLITE_BY_DEFAULT, Lab

CANCEL_TASKS = """
import asyncio
import os
import time

import taskheap
from testtasks import OUT, app, mark


def until_cancelled(name):
    mark(name + ".start")
    while not taskheap.current_job().cancelled:
        time.sleep(0.02)
    mark(name + ".saw")


@app.task(name="cooperative", retries=3, backoff=0.0)
def cooperative():
    until_cancelled("cooperative")
    raise RuntimeError("stopped early")


@app.task(name="snoozes", retries=3, backoff=0.0)
def snoozes():
    until_cancelled("snoozes")
    raise taskheap.Snooze(0)


@app.task(name="finishes", retries=3, backoff=0.0)
def finishes():
    until_cancelled("finishes")
    return "done anyway"


@app.task(name="waits_async", retries=3, backoff=0.0)
async def waits_async():
    mark("waits_async.start")
    await asyncio.sleep(60)


@app.task(name="cooperative_child", retries=3, backoff=0.0)
def cooperative_child():
    until_cancelled("cooperative_child")
    raise taskheap.Cancel("stopped by itself")


@app.task(name="fails_on_go", retries=3, backoff=0.0)
def fails_on_go():
    mark("fails_on_go.start")
    while not os.path.exists(os.path.join(OUT, "go")):
        time.sleep(0.01)
    raise RuntimeError("failed right after the request")


@app.task(name="marks", retries=3, backoff=0.0)
def marks():
    mark("marks.start")


@app.task(name="stubborn", retries=3, backoff=0.0)
def stubborn():
    mark("stubborn.start")
    time.sleep(60)
"""


def cancel_app(lab: Lab) -> str:
    (lab.path / "canceltasks.py").write_text(CANCEL_TASKS)
    return "canceltasks:app"


def enqueue(lab: Lab, task: str) -> JobHandle:
    return lab.app.enqueue(JobSpec(task, (), {}, JobOptions(retries=3)))


def status(lab: Lab, job_id: str) -> JobState:
    return lab.app.get_job(job_id).info().status


@SQLITE_BY_DEFAULT
def test_thread_and_async_jobs_stop_on_a_request_by_river_s_rule(lab: Lab) -> None:
    app_path = cancel_app(lab)
    failing = enqueue(lab, "cooperative")
    succeeding = enqueue(lab, "finishes")
    snoozing = enqueue(lab, "snoozes")
    coroutine = enqueue(lab, "waits_async")
    worker = lab.worker("--concurrency", "3", app=app_path)
    for name in ("cooperative", "snoozes", "finishes", "waits_async"):
        wait_for(lambda name=name: lab.marks(f"{name}.start"), what=f"{name} to start")
    for handle in (failing, snoozing, succeeding, coroutine):
        assert handle.cancel() is True
    for handle in (failing, snoozing, succeeding, coroutine):
        wait_for(lambda handle=handle: status(lab, handle.id) not in ("running", "queued"), what="settled")
    for handle in (failing, snoozing, coroutine):
        info = handle.info()
        assert (info.status, info.error, info.attempts, info.failed_attempts) == (
            JobState.CANCELLED,
            "cancel requested",
            1,
            [],
        ), worker.output()
    assert succeeding.result(timeout=1) == "done anyway"
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output()


@SQLITE_BY_DEFAULT
def test_a_process_child_sees_a_request_and_is_killed_after_the_grace_if_it_ignores_it(lab: Lab) -> None:
    app_path = cancel_app(lab)
    handle = enqueue(lab, "stubborn")
    worker = lab.worker("--pool", "process", "--concurrency", "1", "--cancel-grace", "0.5", app=app_path)
    wait_for(lambda: lab.marks("stubborn.start"), what="the job to start")
    assert handle.cancel() is True
    wait_for(lambda: status(lab, handle.id) == "cancelled", what="the job cancelled")
    info = handle.info()
    assert (info.error, info.attempts, info.failed_attempts) == (
        "cancel requested: killed after the cancel grace",
        1,
        [],
    )
    assert len(lab.marks("stubborn.start")) == 1  # not run again
    polite = enqueue(lab, "cooperative_child")  # the next job on the slot's new child
    wait_for(lambda: lab.marks("cooperative_child.start"), what="the next job to start")
    assert polite.cancel() is True
    wait_for(lambda: status(lab, polite.id) == "cancelled", what="the child to stop by itself")
    assert polite.info().error == "stopped by itself" and lab.marks("cooperative_child.saw")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output()


@SQLITE_BY_DEFAULT
def test_a_request_for_the_job_of_a_killed_worker_cancels_it_on_rescue(short_lease_lab: Lab) -> None:
    lab = short_lease_lab
    app_path = cancel_app(lab)
    handle = enqueue(lab, "stubborn")
    victim = lab.worker(app=app_path)
    wait_for(lambda: lab.marks("stubborn.start"), what="the job to start")
    victim.signal(signal.SIGKILL)
    victim.wait()
    assert handle.cancel() is True and status(lab, handle.id) == "running"  # a stored request
    rescuer = lab.worker("--burst", app=app_path)
    assert rescuer.wait() == 0, rescuer.output()
    info = handle.info()
    assert (info.status, info.error) == (JobState.CANCELLED, CANCEL_LOST), rescuer.output()
    assert len(lab.marks("stubborn.start")) == 1


def test_cancelled_is_false_outside_a_request() -> None:
    job = taskheap.context.JobContext("id-1", "t", "q", 5, 1, 0)
    assert job.cancelled is False


@SQLITE_BY_DEFAULT
def test_a_run_failing_before_the_control_thread_saw_the_request_is_cancelled_not_retried(lab: Lab) -> None:
    app_path = cancel_app(lab)
    handle = enqueue(lab, "fails_on_go")
    worker = lab.worker("--concurrency", "1", app=app_path)
    wait_for(lambda: lab.marks("fails_on_go.start"), what="the job to start")
    assert handle.cancel() is True
    (lab.path / "go").touch()  # it fails at once: within a poll interval of the request
    wait_for(lambda: status(lab, handle.id) not in ("running", "queued"), what="settled")
    info = handle.info()
    assert (info.status, info.error, info.attempts) == (JobState.CANCELLED, "cancel requested", 1), (
        worker.output()
    )
    assert len(lab.marks("fails_on_go.start")) == 1
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output()


@SQLITE_BY_DEFAULT
def test_a_job_claimed_ahead_and_cancelled_before_its_start_never_runs(lab: Lab) -> None:
    app_path = cancel_app(lab)
    blocker = enqueue(lab, "fails_on_go")
    ahead = enqueue(lab, "marks")
    worker = lab.worker("--concurrency", "1", "--prefetch", "1", "--grace", "0.2", app=app_path)
    wait_for(lambda: lab.marks("fails_on_go.start"), what="the first job to start")
    wait_for(lambda: status(lab, ahead.id) == "running", what="the second claimed ahead")
    assert ahead.cancel() is True, "a claimed job's cancel is a request"
    worker.signal(signal.SIGTERM)  # given back at the stop: cancelled, not queued again
    assert worker.wait() == 0, worker.output()
    info = ahead.info()
    assert (info.status, info.error, info.attempts) == (JobState.CANCELLED, "cancel requested", 1), (
        worker.output()
    )
    assert lab.marks("marks.start") == []
    assert status(lab, blocker.id) == "retrying", "the blocker was stopped by the grace, as before"
