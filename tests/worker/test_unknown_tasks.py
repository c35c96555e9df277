"""A rolling deploy: a job of a task that a worker's app does not define is given back, unrun and
its attempt not spent, until a worker that defines it runs it; it becomes dead only after the
unknown-task wait with no live worker of its queue declaring the task. And what the registry
shows of each worker: its tasks, the jobs it runs now (not as of its last heartbeat), its
throughput, whether it is lost."""

from __future__ import annotations

import signal
import time

from taskheap.job import JobState
from taskheap.task import JobOptions, JobSpec

from ..conftest import wait_for
from .conftest import SQLITE_BY_DEFAULT, Lab

NEWER_TASKS = """
from testtasks import app, mark


@app.task(name="newer.task")
def newer(x):
    mark("newer")
    return x * 2
"""


def newer_app(lab: Lab) -> str:
    """The -A of an app that defines what the lab's does and one task more."""
    (lab.path / "newertasks.py").write_text(NEWER_TASKS)
    return "newertasks:app"


def newer_job(lab: Lab) -> str:
    """A job of the task only the newer app defines, enqueued as its producer would."""
    return lab.app.enqueue(JobSpec("newer.task", (21,), {}, JobOptions(retries=0))).id


def test_an_older_worker_gives_the_job_back_unspent_and_a_newer_one_runs_it(lab: Lab) -> None:
    job_id = newer_job(lab)
    healthy = lab.tasks.add.enqueue(2, 3)
    older = lab.worker("--burst")
    assert older.wait() == 0, older.output()  # it left only a job it cannot run: exits
    assert healthy.result(timeout=1) == 5
    record = lab.app.admin.record(job_id)
    assert record is not None and record.state == JobState.SCHEDULED, record
    assert record.attempts == 0 and record.unknown_since is not None
    assert "task 'newer.task' of queue 'default' is not defined by this worker's app" in older.output()

    newer = lab.worker("--burst", app=newer_app(lab))
    assert newer.wait() == 0, newer.output()
    info = lab.app.get_job(job_id).info()
    assert (info.status, info.result, info.attempts) == (JobState.SUCCEEDED, 42, 1)
    assert len(lab.marks("newer")) == 1


def test_the_job_is_dead_once_the_wait_is_over_with_no_worker_declaring_its_task(lab: Lab) -> None:
    job_id = newer_job(lab)
    older = lab.worker("--unknown-task-ttl", "1")
    wait_for(lambda: lab.app.get_job(job_id).status() == JobState.DEAD, timeout=30, what="the job to be dead")
    info = lab.app.get_job(job_id).info()
    assert info.attempts == 1 and info.error is not None
    expected = "unknown task 'newer.task': no live worker of queue 'default' has declared it for 1s"
    assert info.error.startswith(expected + " (first given back at "), info.error
    assert not lab.marks("newer")
    older.signal(signal.SIGTERM)
    assert older.wait() == 0


@SQLITE_BY_DEFAULT
def test_while_a_live_worker_of_the_queue_declares_the_task_the_job_waits_for_it(lab: Lab) -> None:
    """The newer worker is busy (one slot, a long job) while the older one, whose wait is
    nearly nil, keeps meeting the job: declared by a live worker, so it waits, and runs."""
    busy = lab.tasks.sleepy.enqueue("busy", 6)
    newer = lab.worker("--concurrency", "1", "--prefetch", "0", app=newer_app(lab))
    wait_for(lambda: lab.marks("busy.start"), timeout=30, what="the newer worker to be busy")
    job_id = newer_job(lab)
    older = lab.worker("--unknown-task-ttl", "0.1")
    wait_for(lambda: lab.marks("newer"), timeout=60, what="the newer worker to run the job")
    assert busy.result(timeout=30) == "busy"
    assert lab.app.get_job(job_id).result(timeout=30) == 42  # its mark is written as it starts
    info = lab.app.get_job(job_id).info()
    assert (info.status, info.result, info.attempts) == (JobState.SUCCEEDED, 42, 1)
    assert "is not defined by this worker's app" in older.output()
    for worker in (older, newer):
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0


@SQLITE_BY_DEFAULT
def test_the_registry_shows_declared_tasks_and_the_jobs_running_now(lab: Lab) -> None:
    """The lab's lease is 30 s, so heartbeats come every 10 s: the registry follows a job's
    start and finish much sooner than that."""
    worker = lab.worker("--concurrency", "2")
    wait_for(lambda: lab.app.admin.workers(), timeout=30, what="the worker to register")
    (info,) = lab.app.admin.workers()
    assert {"add", "sleepy", "flaky"} <= set(info["tasks"]) and info["lease"] == 30.0
    assert not info["lost"] and info["jobs"] == [] and info["processed"] == 0

    handle = lab.tasks.sleepy.enqueue("long", 4)
    wait_for(lambda: lab.marks("long.start"), timeout=30, what="the job to start")
    started = time.monotonic()
    wait_for(lambda: lab.app.admin.workers()[0]["jobs"] == [handle.id], timeout=5, what="the job listed")
    assert time.monotonic() - started < 2.0
    assert handle.result(timeout=30) == "long"
    finished = time.monotonic()

    def counted() -> bool:
        (info,) = lab.app.admin.workers()
        return info["jobs"] == [] and (info["processed"], info["per_minute"]) == (1, 1)

    wait_for(counted, timeout=5, what="the job unlisted and counted")
    assert time.monotonic() - finished < 2.0
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0


@SQLITE_BY_DEFAULT
def test_a_silent_worker_is_shown_lost_then_forgotten(short_lease_lab: Lab) -> None:
    lab = short_lease_lab
    silent = lab.worker(env={"TEST_WORKER_TTL": "4"})
    wait_for(lambda: lab.app.admin.workers(), timeout=30, what="the worker to register")
    silent.signal(signal.SIGSTOP)
    wait_for(lambda: lab.app.admin.workers()[0]["lost"], timeout=10, what="the worker shown lost")
    overview = lab.app.admin.overview(time.time(), activity=False)
    assert overview.slots == (0, 0)  # a lost worker is no capacity
    silent.signal(signal.SIGCONT)
    wait_for(lambda: not lab.app.admin.workers()[0]["lost"], timeout=10, what="the worker back")
    silent.signal(signal.SIGKILL)
    silent.wait()
    other = lab.worker(env={"TEST_WORKER_TTL": "4"})  # its Pruner forgets the dead one
    wait_for(
        lambda: [w["pid"] for w in lab.app.admin.workers()] == [other.proc.pid],
        timeout=30,
        what="the killed worker forgotten",
    )
