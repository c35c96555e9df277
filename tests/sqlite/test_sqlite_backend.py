"""SQLite-only behaviour: locking errors, WAL mode, idle waits, and the indexes that keep a
claim, a promotion and a lease expiry check as cheap at 100,000 jobs as at 1,000."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import taskheap
from taskheap.backends.base import JobQuery, NewJob
from taskheap.backends.sqlite import SQLiteBackend
from taskheap.backends.sqlite.queries import claim_sql
from taskheap.clock import FixedClock


def test_locked_database_gives_a_clear_error_after_its_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/locked.db?timeout=0.2"
    app = taskheap.App(url)
    add = app.task(name="add")(lambda x, y: x + y)
    add.enqueue(1, 2)
    blocker = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(taskheap.BackendError, match="locked"):
            add.enqueue(3, 4)
    finally:
        blocker.execute("ROLLBACK")
    add.enqueue(3, 4)
    assert app.stats()["queues"]["default"]["queued"] == 2


def test_database_is_in_wal_mode(tmp_path: Path) -> None:
    taskheap.App(f"sqlite:///{tmp_path}/wal.db").stats()
    mode = sqlite3.connect(tmp_path / "wal.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_unknown_synchronous_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(taskheap.ConfigError, match="synchronous"):
        SQLiteBackend(f"sqlite:///{tmp_path}/x.db?synchronous=sometimes")


@pytest.mark.parametrize("queues", [1, 3])
def test_claim_reads_the_runnable_index_in_order(tmp_path: Path, queues: int) -> None:
    backend = SQLiteBackend(f"sqlite:///{tmp_path}/plan.db")
    backend.migrate()
    conn = backend._conn().conn
    plan = conn.execute(
        "EXPLAIN QUERY PLAN " + claim_sql(queues), (0.0, 1.0, "w", 10, *[f"q{i}" for i in range(queues)])
    ).fetchall()
    details = " | ".join(row[-1] for row in plan)
    assert details.count("USING INDEX jobs_runnable") == queues, details
    assert "SCAN jobs" not in details.replace("SCAN jobs USING", ""), details


@pytest.mark.parametrize("queues", [1, 3])
def test_a_claims_cost_does_not_grow_with_the_depth_of_its_queues(tmp_path: Path, queues: int) -> None:
    """What the plan above is for: the claim reads the first rows of `jobs_runnable` by rank,
    so its work, in SQLite VM steps, is the same behind 100,000 queued jobs as behind 1,000
    (a scan or a sort of the queue would take a hundred times as many)."""
    backend = SQLiteBackend(f"sqlite:///{tmp_path}/depth.db")
    backend.migrate()
    names = [f"q{i}" for i in range(queues)]
    jobs = JobMaker()
    for name in names:
        backend.enqueue(jobs.make(1_000 // queues, name))
    shallow = vm_steps(backend, lambda: backend.claim(names, "w", 10, 30.0, now=NOW))
    for name in names:
        backend.enqueue(jobs.make(99_000 // queues, name))
    deep = vm_steps(backend, lambda: backend.claim(names, "w", 10, 30.0, now=NOW))
    assert deep < 1.5 * shallow, (shallow, deep)


def test_promotion_and_the_expired_lease_lookup_cost_the_same_among_100_times_more_jobs(
    tmp_path: Path,
) -> None:
    """`promote_due` reads only due scheduled and retrying jobs (`jobs_due`), `expired` only
    expired leases (`jobs_leases`): the queued jobs, the jobs due later and the live leases
    around them cost nothing, so both take as many VM steps among 100,000 jobs as among 1,000."""
    backend = SQLiteBackend(f"sqlite:///{tmp_path}/due.db")
    backend.migrate()
    jobs = JobMaker()

    def add_jobs_they_skip(n: int) -> None:
        backend.enqueue(jobs.make(n, "queued") + jobs.make(n, "later", run_at=NOW + 3600))
        backend.enqueue(jobs.make(n, "live"))
        assert len(backend.claim(["live"], "w", n, 3600.0, now=NOW)) == n

    def promote_five_due() -> int:
        backend.enqueue(jobs.make(5, "due", run_at=NOW - 1))
        return vm_steps(backend, lambda: backend.promote_due(now=NOW))

    def expired_five() -> int:
        return vm_steps(backend, lambda: backend.expired(10, now=NOW))

    backend.enqueue(jobs.make(5, "lost"))
    assert len(backend.claim(["lost"], "lost-worker", 5, 1.0, now=NOW - 100)) == 5  # expired
    add_jobs_they_skip(333)
    few = (promote_five_due(), expired_five())
    add_jobs_they_skip(33_000)
    many = (promote_five_due(), expired_five())
    assert backend.promote_due(now=NOW) == 0 and len(backend.expired(10, now=NOW)) == 5
    assert many[0] < 1.5 * few[0] and many[1] < 1.5 * few[1], (few, many)


NOW = 1_700_000_000.0


class JobMaker:
    """Jobs of random rank (seeded), numbered in creation order."""

    def __init__(self) -> None:
        self.rng = random.Random(7)
        self.made = 0

    def make(self, n: int, queue: str, run_at: float | None = None) -> list[NewJob]:
        first, self.made = self.made, self.made + n
        return [
            NewJob(
                f"{queue}-{i:07d}",
                "echo",
                queue,
                5,
                self.rng.random(),
                "{}",
                NOW - 3600,
                run_at,
                3,
                None,
                None,
            )
            for i in range(first, self.made)
        ]


def vm_steps(backend: SQLiteBackend, action: Callable[[], object]) -> int:
    """How many SQLite virtual machine instructions `action` runs on this thread's connection."""
    steps = 0

    def step() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    conn = backend._conn().conn
    conn.set_progress_handler(step, 1)
    try:
        action()
    finally:
        conn.set_progress_handler(None, 1)
    return steps


def test_idle_wait_ignores_due_jobs_of_paused_and_unserved_queues(tmp_path: Path) -> None:
    behind = FixedClock(time.time() - 60)  # the producer's clock: its delayed jobs are due already
    app = taskheap.App(f"sqlite:///{tmp_path}/idle.db", clock=behind)
    echo = app.task(name="echo")(lambda x: x)
    echo.options(queue="paused", delay=10).enqueue(1)
    echo.options(queue="other", delay=10).enqueue(2)
    app.admin.pause("paused")
    assert [q["scheduled"] for q in app.stats()["queues"].values()] == [1, 1]
    started = time.monotonic()
    app.backend.wait_for_work(["paused", "served"], timeout=0.3)
    assert time.monotonic() - started >= 0.25, "a due job nobody may claim must not end the wait"


def test_a_job_committed_between_an_empty_claim_and_the_wait_ends_the_wait_at_once(tmp_path: Path) -> None:
    app = taskheap.App(f"sqlite:///{tmp_path}/gap.db")
    echo = app.task(name="echo")(lambda x: x)
    assert app.backend.claim(["default"], "w", 1, 30.0) == []
    producer = taskheap.App(f"sqlite:///{tmp_path}/gap.db")  # another connection commits
    producer.task(name="echo")(lambda x: x).enqueue(1)
    started = time.monotonic()
    app.backend.wait_for_work(["default"], timeout=60.0)
    assert time.monotonic() - started < 10.0, "the wait did not end at once (its timeout is 60 s)"
    assert [job.task for job in app.backend.claim(["default"], "w", 1, 30.0)] == [echo.name]


def test_a_payload_stored_as_invalid_utf8_text_or_as_a_blob_is_read_as_text(tmp_path: Path) -> None:
    """Rows written by hand: reading never fails on them, and the payload is always a str (bytes
    that are not UTF-8 held as lone surrogates, which decoding the payload refuses)."""
    app = taskheap.App(f"sqlite:///{tmp_path}/raw.db")
    app.task(name="add")(lambda x, y: x + y).enqueue(1, 2)
    raw = sqlite3.connect(tmp_path / "raw.db")
    with raw:
        invalid = b'{"args":["\xff"]}'.hex()
        raw.execute(f"UPDATE jobs SET payload = CAST(X'{invalid}' AS TEXT)")
        raw.execute(
            "INSERT INTO jobs (id, task, queue, priority, rank, state, payload, retries, enqueued_at)"
            " SELECT 'Z' || id, task, queue, priority, rank, state, X'7b7d', retries, enqueued_at FROM jobs"
        )
    raw.close()
    (text, blob) = sorted(app.backend.claim(["default"], "w", 10, 30.0), key=lambda job: job.id)
    assert (text.payload, blob.payload) == ('{"args":["\udcff"]}', "{}")
    assert [r.payload for r in app.backend.list_jobs(JobQuery(text="{"))] == ["{}", '{"args":["\udcff"]}']
    assert app.get_job(text.id).info().args == []  # readable; its arguments cannot be decoded


def test_an_sqlite_error_inside_a_write_is_rolled_back_and_raised_as_a_backend_error(tmp_path: Path) -> None:
    app = taskheap.App(f"sqlite:///{tmp_path}/refusing.db")
    app.task(name="add")(lambda x, y: x + y).enqueue(1, 2)
    raw = sqlite3.connect(tmp_path / "refusing.db", isolation_level=None)
    raw.execute("CREATE TRIGGER refuse BEFORE UPDATE ON jobs BEGIN SELECT RAISE(ABORT, 'refused'); END")
    with pytest.raises(taskheap.BackendError, match=r"refusing\.db'.*refused"):
        app.backend.claim(["default"], "w", 10, 30.0)
    raw.execute("DROP TRIGGER refuse")
    assert len(app.backend.claim(["default"], "w", 10, 30.0)) == 1  # rolled back: the next write works
    raw.close()


def test_an_sqlite_error_while_waiting_for_work_is_a_backend_error(tmp_path: Path) -> None:
    backend = SQLiteBackend(f"sqlite:///{tmp_path}/closed.db")
    backend.migrate()
    closer = threading.Timer(0.3, backend.close)  # the store closed under the waiting thread
    closer.start()
    with pytest.raises(taskheap.BackendError, match=r"closed\.db'.*closed"):
        backend.wait_for_work(["default"], timeout=10.0)
    closer.join()


def test_closing_the_backend_while_other_threads_write_waits_for_their_statements(tmp_path: Path) -> None:
    """close() from one thread while others write (a worker's threads, a test closing its App
    early): each statement ends, or fails as a BackendError, and the process lives. Freeing a
    connection under a running statement crashed it (a segmentation fault) before."""
    import threading

    from taskheap.errors import BackendError
    from tests.conftest import wait_for

    def write(backend: SQLiteBackend, stop: threading.Event, writes: list[int]) -> None:
        while not stop.is_set():
            try:
                backend.set_paused(f"q{threading.get_ident()}", True)
                writes[0] += 1
            except BackendError:
                pass

    for round_ in range(10):
        backend = SQLiteBackend(f"sqlite:///{tmp_path}/jobs-{round_}.db")
        backend.migrate()
        stop, writes = threading.Event(), [0]
        writers = [threading.Thread(target=write, args=(backend, stop, writes)) for _ in range(3)]
        for writer in writers:
            writer.start()
        wait_for(lambda: writes[0] > 10, what="the writers to be writing")  # noqa: B023
        backend.close()
        stop.set()
        for writer in writers:
            writer.join(10)
        backend.close()
