"""Progress in real worker processes, from a thread slot and from a process slot's child: a
running job's report is visible in `JobHandle.info().progress` within about a second, and the
last report of a run is written before its success is acknowledged."""

from __future__ import annotations

import signal

import pytest

from taskheap.task import JobOptions, JobSpec

from ..conftest import wait_for
from .conftest import SQLITE_BY_DEFAULT, Lab

PROGRESS_TASKS = """
import os
import time

import taskheap
from testtasks import OUT, app


@app.task(name="pages")
def pages(total):
    job = taskheap.current_job()
    job.progress(1, total, "first page")
    while not os.path.exists(os.path.join(OUT, "go")):
        time.sleep(0.02)
    for page in range(2, total + 1):
        job.progress(page, total, f"page {page}")  # coalesced: only the last is sure to be written
    return total
"""


@SQLITE_BY_DEFAULT
@pytest.mark.parametrize("pool", ["thread", "process"])
def test_progress_reaches_the_store_while_running_and_at_the_end(lab: Lab, pool: str) -> None:
    (lab.path / "progresstasks.py").write_text(PROGRESS_TASKS)
    handle = lab.app.enqueue(JobSpec("pages", (50,), {}, JobOptions()))
    worker = lab.worker("--pool", pool, "--concurrency", "1", app="progresstasks:app")
    wait_for(lambda: handle.info().progress is not None, what="the first report written")
    first = handle.info().progress
    assert first is not None and (first["current"], first["total"], first["message"]) == (1, 50, "first page")
    assert isinstance(first["updated_at"], float) and handle.status() == "running"
    (lab.path / "go").touch()
    assert handle.result(timeout=10) == 50
    last = handle.info().progress
    assert last is not None and (last["current"], last["message"]) == (50, "page 50"), worker.output()
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output()


def test_progress_is_validated() -> None:
    from taskheap.progress import encode

    with pytest.raises(TypeError, match="current must be a number"):
        encode("3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="total must be a finite number"):
        encode(1, float("nan"))
    with pytest.raises(ValueError, match="message too long"):
        encode(1, None, "x" * 201)


def test_progress_reads_as_a_fraction_where_the_total_is_known() -> None:
    from taskheap.views import progress_text

    assert (
        progress_text({"current": 30, "total": 120, "message": "pages", "updated_at": None})
        == "30/120 (25%) pages"
    )
    assert progress_text({"current": 7, "total": None, "message": None}) == "7"
