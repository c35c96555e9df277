"""Progress in real worker processes, from a thread slot and from a process slot's child: a
running job's report is visible in `JobHandle.info().progress` within about a second, and the
last report of a run is written before its success is acknowledged."""

from __future__ import annotations

import signal

import pytest

from taskheap.job import TERMINAL
from taskheap.task import JobOptions, JobSpec
from taskheap.worker.control import POLL_EVERY

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


FLOOD_TASKS = """
import time

import taskheap
from testtasks import app


@app.task(name="flood")
def flood(seconds):
    job = taskheap.current_job()
    start = time.monotonic()
    reports = 0
    while time.monotonic() - start < seconds:
        reports += 1
        job.progress(reports, None, "flooding")
    return [reports, time.monotonic() - start]
"""


@SQLITE_BY_DEFAULT
def test_progress_reported_in_a_tight_loop_is_written_about_once_a_second(lab: Lab) -> None:
    """Coalescing: a run reporting thousands of times a second costs the store about one write a
    second (the control thread's pass, POLL_EVERY) and one more for its last report. Each write
    stamps `updated_at` with the store's time, so the distinct stamps seen by polling every 10 ms
    count the writes (writes more often than the poll would still show dozens)."""
    (lab.path / "floodtasks.py").write_text(FLOOD_TASKS)
    handle = lab.app.enqueue(JobSpec("flood", (3.0,), {}, JobOptions()))
    worker = lab.worker("--concurrency", "1", app="floodtasks:app")
    stamps: set[float] = set()

    def finished() -> bool:
        info = handle.info()
        if info.progress is not None:
            stamps.add(info.progress["updated_at"])
        return info.status in TERMINAL  # a failed run fails below with its error, not a timeout

    wait_for(finished, timeout=30, what="the flood to finish")
    reports, seconds = handle.result(timeout=5)
    last = handle.info().progress  # its stamp is in `stamps`: the finished job's read had it
    assert last is not None and last["current"] == reports, worker.output()
    assert reports > 1000, f"only {reports} reports in {seconds:.1f}s: not a flood"
    writes = len(stamps)
    assert writes <= seconds / POLL_EVERY + 2, f"{writes} writes of {reports} reports in {seconds:.1f}s"
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output()
