"""Unique jobs on every backend: a job enqueued with a `unique_key` whose key is held in its queue
enqueues nothing and gets the holder's handle, `duplicate` True. Without `unique_for` the key is
held while a job with it is queued, scheduled, running or retrying; with `unique_for=S` by the job
that took it for S seconds from its enqueue, whatever became of that job. The store decides, in
the insert itself: many threads enqueuing one key at once make exactly one job."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

import taskheap
from taskheap.backends.base import Cancellation, Completion, JobQuery
from taskheap.backends.postgres import PostgresBackend
from taskheap.backends.sqlite import SQLiteBackend
from taskheap.clock import FixedClock
from taskheap.errors import QueueFull
from taskheap.job import JobState

from ..conftest import wait_for
from .helpers import claim, declare, enqueued, run_and_fail


def count(app: taskheap.App, queue: str = "default") -> int:
    return app.backend.count_jobs(JobQuery(queue=queue))


def test_a_key_is_held_while_its_job_is_queued_running_or_retrying(
    app: taskheap.App, clock: FixedClock
) -> None:
    echo = declare(app).options(unique_key="k", retries=5)
    first = echo.enqueue(1)
    again = echo.enqueue(2)
    assert not first.duplicate and again.duplicate and again.id == first.id
    run_and_fail(app, clock, 1)  # retrying
    assert echo.enqueue(3).id == first.id
    (job,) = claim(app, clock)  # running again
    assert echo.enqueue(4).duplicate
    app.backend.complete([Completion(job.id, job.token, "null")], now=clock.now())
    after = echo.enqueue(5)
    assert not after.duplicate and after.id != first.id
    assert count(app) == 2
    assert sum(enqueued(app).values()) == 4  # two jobs, each in its minute and ALL_TIME


def test_a_scheduled_job_holds_its_key_and_a_new_one_is_taken_after_dead_or_cancelled(
    app: taskheap.App, clock: FixedClock
) -> None:
    echo = declare(app)
    later = echo.options(unique_key="s", delay=60).enqueue(1)
    assert echo.options(unique_key="s").enqueue(2).id == later.id
    assert later.cancel()
    fresh = echo.options(unique_key="s", retries=0).enqueue(3)
    assert not fresh.duplicate
    run_and_fail(app, clock, 1, retry=False)
    assert app.backend.get(fresh.id).state == JobState.DEAD  # type: ignore[union-attr]
    assert not echo.options(unique_key="s").enqueue(4).duplicate


def test_keys_are_scoped_to_the_queue_and_unique_true_derives_them_from_the_arguments(
    app: taskheap.App,
) -> None:
    echo = declare(app)
    a = echo.options(unique_key="k").enqueue(1)
    b = echo.options(unique_key="k", queue="other").enqueue(1)
    assert not a.duplicate and not b.duplicate
    same = echo.options(unique=True)
    first = same.enqueue({"x": 1, "y": 2})
    assert same.enqueue({"y": 2, "x": 1}).id == first.id
    assert not same.enqueue({"x": 2}).duplicate


def test_a_batch_with_duplicates_of_each_other_and_of_a_stored_job(app: taskheap.App) -> None:
    echo = declare(app)
    stored = echo.options(unique_key="old").enqueue(0)
    handles = app.enqueue_many(
        [
            echo.options(unique_key="new").job(1),
            echo.job(2),
            echo.options(unique_key="new").job(3),
            echo.options(unique_key="old").job(4),
            echo.options(unique_key="w", unique_for=60).job(5),
            echo.options(unique_key="w", unique_for=60).job(6),
        ]
    )
    assert [h.duplicate for h in handles] == [False, False, True, True, False, True]
    assert handles[2].id == handles[0].id and handles[3].id == stored.id and handles[5].id == handles[4].id
    assert count(app) == 4


def test_a_window_holds_the_key_after_the_job_finished_and_was_pruned_then_frees_it(
    app: taskheap.App, clock: FixedClock
) -> None:
    task = declare(app)
    echo = task.options(unique_key="sync", unique_for=300)
    first = echo.enqueue(1)
    (job,) = claim(app, clock)
    app.backend.complete([Completion(job.id, job.token, "null")], now=clock.now())
    clock.advance(200)
    app.backend.prune(10, 100, now=clock.now())
    assert app.backend.get(first.id) is None
    held = echo.enqueue(2)
    assert held.duplicate and held.id == first.id
    clock.advance(100)
    second = echo.enqueue(3)
    assert not second.duplicate
    also_active = task.options(unique_key="sync").enqueue(4)  # the modes do not mix
    assert not also_active.duplicate


def test_purge_and_expiry_release_the_key(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    dead = echo.options(unique_key="p", retries=0).enqueue(1)
    run_and_fail(app, clock, 1, retry=False)
    assert not echo.options(unique_key="p", delay=60).enqueue(2).duplicate  # dead: free
    assert app.admin.purge_waiting("default") == 1
    assert not echo.options(unique_key="p", expires=5).enqueue(3).duplicate
    clock.advance(10)
    assert len(app.backend.expire_due(10, now=clock.now())) == 1
    assert not echo.options(unique_key="p").enqueue(4).duplicate
    assert app.backend.get(dead.id) is not None


def test_a_cancelled_claimed_job_releases_its_key(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app).options(unique_key="c")
    first = echo.enqueue(1)
    (job,) = claim(app, clock)
    app.backend.cancel_claimed([Cancellation(job.id, job.token, "stop")], now=clock.now())
    assert echo.enqueue(2).id != first.id


def test_a_dead_job_whose_key_is_held_again_is_not_replayed(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app).options(unique_key="r", retries=0)
    dead = echo.enqueue(1)
    run_and_fail(app, clock, 1, retry=False)
    holder = echo.enqueue(2)
    skipped = app.admin.replay([dead.id])
    assert skipped == 0 and skipped.held == 1
    assert app.backend.get(dead.id).state == JobState.DEAD  # type: ignore[union-attr]
    app.admin.cancel(holder.id)
    replayed = app.admin.replay([dead.id])
    assert replayed == 1 and replayed.held == 0
    assert echo.enqueue(3).id == dead.id  # replayed, it holds its key again


def test_a_duplicate_takes_no_room_in_a_queue_with_a_max_length(app: taskheap.App) -> None:
    app.queue("default", max_length=2)
    echo = declare(app)
    first = echo.options(unique_key="m").enqueue(1)
    echo.enqueue(2)
    assert echo.options(unique_key="m").enqueue(3).id == first.id
    with pytest.raises(QueueFull):
        echo.options(unique_key="other").enqueue(4)
    assert count(app) == 2


def race(enqueue: Callable[[], taskheap.JobHandle], threads: int) -> list[taskheap.JobHandle]:
    """`enqueue` run by `threads` threads released at once; their handles."""
    start = threading.Barrier(threads)
    handles: list[taskheap.JobHandle] = []

    def run() -> None:
        start.wait()
        handles.append(enqueue())

    running = [threading.Thread(target=run) for _ in range(threads)]
    for t in running:
        t.start()
    for t in running:
        t.join()
    return handles


def trials(app: taskheap.App, n: int, threads: int) -> None:
    """`n` races of `threads` threads enqueuing one key (a window's, every third trial): exactly one
    job each, and every thread has its handle."""
    echo = declare(app)
    for trial in range(n):
        window = 60.0 if trial % 3 == 2 else None
        options = echo.options(unique_key=f"race:{trial}", unique_for=window)
        handles = race(lambda options=options: options.enqueue(0), threads)  # type: ignore[misc]
        assert len({h.id for h in handles}) == 1 and sum(not h.duplicate for h in handles) == 1
    assert count(app) == n


def test_many_threads_enqueuing_one_key_make_one_job(app: taskheap.App) -> None:
    trials(app, 50, 4)


@pytest.mark.slow
def test_a_thousand_races_of_eight_threads_make_one_job_each(app: taskheap.App) -> None:
    trials(app, 1000, 8)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"unique_for": 5}, "unique_for"),
        ({"unique": True, "unique_key": "k"}, "unique_key"),
        ({"unique_key": "k", "unique_for": 0}, "unique_for"),
        ({"unique_key": ""}, "unique_key"),
        ({"unique_key": 5}, "unique_key"),
    ],
)
def test_bad_unique_options_are_refused_naming_the_option(options: dict[str, object], named: str) -> None:
    app = taskheap.App("sqlite:///:memory:")
    echo = declare(app)
    with pytest.raises(ValueError, match=named):
        echo.options(**options)


@pytest.mark.parametrize("backend_url", ["postgres", "sqlite"], indirect=True)
@pytest.mark.parametrize("window", [None, 60.0])
@pytest.mark.parametrize("outcome", ["rollback", "commit"])
def test_a_key_taken_in_a_transaction_holds_off_another_producer_until_it_ends(
    app: taskheap.App, window: float | None, outcome: str
) -> None:
    """The other producer waits for the transaction holding the key: after a rollback it takes
    the key (Oban lost jobs here), after a commit it gets the committed job's handle."""
    echo = declare(app).options(unique_key="tx", unique_for=window)
    backend = app.backend
    if isinstance(backend, PostgresBackend):
        conn: Any = psycopg.connect(backend.conninfo)
    else:
        assert isinstance(backend, SQLiteBackend)
        conn = sqlite3.connect(backend.path)
    try:
        mine = app.enqueue(echo.job(1), connection=conn)
        theirs: list[taskheap.JobHandle] = []
        other = threading.Thread(target=lambda: theirs.append(echo.enqueue(2)))
        other.start()
        other.join(0.3)
        assert other.is_alive() and not theirs  # waiting for this transaction to end
        getattr(conn, outcome)()
        other.join()
    finally:
        conn.close()
    (handle,) = theirs
    if outcome == "commit":
        assert handle.duplicate and handle.id == mine.id
    else:
        assert not handle.duplicate and app.backend.get(mine.id) is None
    assert count(app) == 1


def _producer(url: str, start: Any, n: int, out: Any) -> None:
    """A producer process of the race below: each trial's key enqueued once, all at once."""
    app = taskheap.App(url)
    echo = declare(app)
    handles = []
    for trial in range(n):
        start.wait()
        handle = echo.options(unique_key=f"process:{trial}").enqueue(trial)
        handles.append((handle.id, handle.duplicate))
    app.close()
    out.put(handles)


@pytest.mark.slow
def test_a_thousand_races_of_four_processes_make_one_job_each(app: taskheap.App) -> None:
    n, processes = 1000, 4
    context = multiprocessing.get_context("spawn")
    start, out = context.Barrier(processes), context.Queue()
    app.backend.migrate()
    running = [context.Process(target=_producer, args=(app.url, start, n, out)) for _ in range(processes)]
    for p in running:
        p.start()
    results = [out.get(timeout=600) for _ in running]
    for p in running:
        p.join()
    for trial in range(n):
        outcomes = [result[trial] for result in results]
        assert len({job_id for job_id, _ in outcomes}) == 1 and sum(not dup for _, dup in outcomes) == 1
    assert count(app) == n


def test_a_job_shows_its_unique_key(app: taskheap.App) -> None:
    echo = declare(app)
    keyed = echo.options(unique_key="show:1", unique_for=30).enqueue(1)
    derived = echo.options(unique=True).enqueue(2)
    assert keyed.info().unique_key == "show:1"
    assert derived.info().unique_key is not None and derived.info().unique_key.startswith("echo:")
    assert echo.enqueue(3).info().unique_key is None
    assert [r.unique_key for r in app.backend.list_jobs(JobQuery())] == [
        None,
        derived.info().unique_key,
        "show:1",
    ]


def test_of_dead_jobs_sharing_a_free_key_a_replay_queues_the_oldest(
    app: taskheap.App, clock: FixedClock
) -> None:
    echo = declare(app).options(unique_key="both", retries=0)
    older = echo.enqueue(1)
    run_and_fail(app, clock, 1, retry=False)
    newer = echo.enqueue(2)
    run_and_fail(app, clock, 2, retry=False)
    replayed = app.admin.replay()
    assert replayed == 1 and replayed.held == 1
    assert app.backend.get(older.id).state == JobState.QUEUED  # type: ignore[union-attr]
    assert app.backend.get(newer.id).state == JobState.DEAD  # type: ignore[union-attr]


def waits_for_a_lock(backend: PostgresBackend, statement: str) -> bool:
    """Whether a statement of this backend's schema starting with `statement` waits for a lock
    (pg_stat_activity keeps a query's first 1,024 bytes: its schema is named within them)."""
    with psycopg.connect(backend.conninfo) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND starts_with(query, %s) AND position(%s in query) > 0",
            (statement, f'"{backend.schema}"'),
        ).fetchone()
    return row is not None and row[0] > 0


@pytest.mark.parametrize("backend_url", ["postgres", "sqlite"], indirect=True)
def test_a_replay_racing_a_new_job_of_the_dead_job_s_key_leaves_it_dead_and_counts_it_held(
    app: taskheap.App, clock: FixedClock
) -> None:
    """A producer's open transaction holds the key of a dead job being replayed. PostgreSQL's
    replay waits on the unique index for it, and meets a unique violation when it commits; the
    replay then runs again and counts the job held. SQLite's waits for the write lock."""
    echo = declare(app).options(unique_key="race", retries=0)
    dead = echo.enqueue(1)
    run_and_fail(app, clock, 1, retry=False)
    backend = app.backend
    conn: Any = (
        psycopg.connect(backend.conninfo)
        if isinstance(backend, PostgresBackend)
        else sqlite3.connect(backend.path)  # type: ignore[attr-defined]
    )
    results: list[Any] = []
    try:
        fresh = app.enqueue(echo.job(2), connection=conn)
        replay = threading.Thread(target=lambda: results.append(app.admin.replay([dead.id])))
        replay.start()
        if isinstance(backend, PostgresBackend):
            wait_for(
                lambda: waits_for_a_lock(backend, "-- Dead and retrying jobs"), what="the replay to wait"
            )
        conn.commit()
        replay.join(30)
    finally:
        conn.close()
    (replayed,) = results
    assert (replayed, replayed.held) == (0, 1)
    assert app.backend.get(dead.id).state == JobState.DEAD  # type: ignore[union-attr]
    assert app.backend.get(fresh.id).state == JobState.QUEUED  # type: ignore[union-attr]


def window_rows(backend: Any) -> int:
    if isinstance(backend, PostgresBackend):
        with psycopg.connect(backend.conninfo) as conn:
            row = conn.execute(f'SELECT count(*) FROM "{backend.schema}".unique_windows').fetchone()
    else:
        assert isinstance(backend, SQLiteBackend)
        with sqlite3.connect(backend.path) as conn:
            row = conn.execute("SELECT count(*) FROM unique_windows").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("backend_url", ["postgres", "sqlite"], indirect=True)
def test_prune_deletes_the_windows_that_ended_and_keeps_those_running(
    app: taskheap.App, clock: FixedClock
) -> None:
    """A schedule fires under a new windowed key each time: ended windows must not pile up."""
    echo = declare(app)
    for i in range(5):
        echo.options(unique_key=f"tick:{i}", unique_for=100).enqueue(i)
        clock.advance(30)  # the windows end at 100, 130, ... 220
    assert window_rows(app.backend) == 5
    clock.advance(5)  # now 155: the windows ending at 100 and 130 ended
    app.backend.prune(3600, 100, now=clock.now())
    assert window_rows(app.backend) == 3
    assert echo.options(unique_key="tick:4", unique_for=100).enqueue(9).duplicate, "running: kept"
    assert not echo.options(unique_key="tick:0", unique_for=100).enqueue(9).duplicate
