"""SQLite rows whose id or task name holds bytes that are not UTF-8 (written by hand with sqlite3):
read leniently, they are written back as the bytes they were, so the worker settles them, its
heartbeats and counters go on, and the healthy jobs beside them run."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskheap.job import JobState

from ..conftest import sqlite_url, wait_for
from ..worker.conftest import Lab

ADD = '{"args":[2,3],"kwargs":{}}'
BAD_ID = b"\xff\xfe-not-utf8-id"
BAD_TASK = b"add\xff"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path, sqlite_url(tmp_path), lease=3.0)
    yield lab
    lab.close()


def insert(path: str, job_id: bytes, task: bytes) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO jobs (id, task, queue, priority, rank, state, payload, retries, enqueued_at)"
            " VALUES (CAST(? AS TEXT), CAST(? AS TEXT), 'default', 5, 5.0, 'queued', ?, 0, ?)",
            (job_id, task, ADD, time.time()),
        )


def state_of(path: str, job_id: bytes) -> tuple[str, str | None]:
    with sqlite3.connect(path) as conn:
        conn.text_factory = bytes
        state, result = conn.execute(
            "SELECT state, result FROM jobs WHERE id = CAST(? AS TEXT)", (job_id,)
        ).fetchone()
    return state.decode(), None if result is None else result.decode()


def test_ids_and_task_names_that_are_not_utf8_are_settled_and_counted(lab: Lab) -> None:
    path = lab.app.backend.path  # type: ignore[attr-defined]
    insert(path, BAD_ID, b"add")
    insert(path, b"0HEALTHY-BESIDE-A-BAD-TASK", BAD_TASK)
    healthy = [lab.tasks.add.enqueue(n, 1) for n in range(5)]
    worker = lab.worker("--concurrency", "2")
    assert [h.result(timeout=30) for h in healthy] == [1, 2, 3, 4, 5]
    wait_for(lambda: state_of(path, BAD_ID)[0] == JobState.SUCCEEDED, timeout=30, what="the bad id settled")
    assert state_of(path, BAD_ID) == ("succeeded", "5")
    assert state_of(path, b"0HEALTHY-BESIDE-A-BAD-TASK")[0] == JobState.DEAD
    # The counters went on through both: the tally thread wrote the bad task's label too.
    with sqlite3.connect(path) as conn:
        conn.text_factory = bytes
        wait_for(
            lambda: conn.execute(
                "SELECT dead FROM minutes WHERE task = CAST(? AS TEXT)", (BAD_TASK,)
            ).fetchall(),
            timeout=30,
            what="the bad task's dead counter",
        )
    later = lab.tasks.add.enqueue(10, 10)
    assert later.result(timeout=30) == 20
    assert worker.proc.poll() is None, worker.output()
    assert "Traceback" not in worker.output(), worker.output()
