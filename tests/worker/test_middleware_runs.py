"""Middleware in real worker processes: the run hooks run where the job runs (a thread slot, or
a process slot's child, which loads the App and so its middleware), around the task, with the
headers stored at enqueue; a failing hook costs no slot and no job."""

from __future__ import annotations

import json

import pytest

import taskheap

from .conftest import Lab

MIDDLEWARE_TASKS = """
import asyncio
import json
import os

import taskheap
from testtasks import OUT


class Hooks(taskheap.Middleware):
    def before_run(self, job):
        with open(os.path.join(OUT, "hooks.jsonl"), "a") as f:
            f.write(json.dumps(["before", job.id, job.headers, os.getpid()]) + "\\n")

    def after_run(self, job, result):
        with open(os.path.join(OUT, "hooks.jsonl"), "a") as f:
            f.write(json.dumps(["after", job.id, result.ok, result.value, os.getpid()]) + "\\n")


class Broken(taskheap.Middleware):
    def before_run(self, job):
        raise RuntimeError("broken before")


app = taskheap.App(middleware=[Hooks(), Broken()])


@app.task(name="headers", queue="mw")
def headers():
    return taskheap.current_job().headers


@app.task(name="aheaders", queue="mw")
async def aheaders():
    await asyncio.sleep(0)
    return taskheap.current_job().headers
"""


class Stamp(taskheap.Middleware):
    def enqueue(self, job: taskheap.Enqueueing) -> None:
        job.headers["stamped"] = job.task


@pytest.mark.parametrize("pool", ["thread", "process", "async"])
def test_run_hooks_run_where_the_job_runs_with_its_headers(lab: Lab, pool: str) -> None:
    """async: an `async def` task's hooks run on the worker's event loop, in the job's context."""
    (lab.path / "mwtasks.py").write_text(MIDDLEWARE_TASKS)
    producer = taskheap.App(lab.url, middleware=[Stamp()])
    task = "aheaders" if pool == "async" else "headers"
    headers = producer.task(name=task, queue="mw")(lambda: None)
    ids = [headers.enqueue().id for _ in range(3)]
    producer.close()
    pool = "thread" if pool == "async" else pool
    worker = lab.worker("--pool", pool, "--concurrency", "2", "--queues", "mw", "--burst", app="mwtasks:app")
    assert worker.wait(60) == 0, worker.output()

    for job_id in ids:
        assert lab.app.get_job(job_id).result(timeout=1) == {"stamped": task}
        assert lab.app.get_job(job_id).info().headers == {"stamped": task}
    rows = [json.loads(line) for line in (lab.path / "hooks.jsonl").read_text().splitlines()]
    assert sorted(r[1] for r in rows if r[0] == "before") == sorted(ids)
    assert all(r[2] == {"stamped": task} for r in rows if r[0] == "before")
    assert sorted((r[1], r[2], r[3]) for r in rows if r[0] == "after") == sorted(
        (i, True, {"stamped": task}) for i in ids
    )
    assert ({r[-1] for r in rows} == {worker.proc.pid}) == (pool == "thread")
    assert worker.output().count("middleware Broken failed before job") == 3
