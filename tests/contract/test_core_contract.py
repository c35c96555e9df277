"""The core `Backend` contract, what every worker needs: enqueue, claim (priority, FIFO, aging,
delays, a fresh lease token each), heartbeat, complete and fail (only with the current token),
release, promote_due, expired and prune. Every backend must pass all of this unchanged.

`fail` appends the attempt's number, error, traceback, worker and time to the job's log of failed
attempts in the same write as the state change, keeping the last FAILED_ATTEMPTS_KEPT;
`error`/`traceback` stay those of the last attempt."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

import taskheap
from taskheap.backends.base import Completion, Failure, JobQuery, Lease
from taskheap.clock import FixedClock
from taskheap.job import FAILED_ATTEMPTS_KEPT, FailedAttempt, JobState
from taskheap.worker.maintenance import BATCH, Pruner, Rescuer

from .helpers import (
    JOB_ID,
    LEASE,
    _raw_job,
    _worker,
    args_of,
    claim,
    declare,
    enqueue_one,
    run_and_fail,
    stored,
)


def test_lower_priority_number_is_claimed_first(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    for p in (10, 1, 5, 0, 7):
        echo.options(priority=p).enqueue(p)
    assert args_of(claim(app, clock)) == [0, 1, 5, 7, 10]


def test_equal_priorities_run_in_enqueue_order(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    for i in range(20):
        echo.options(priority=3 if i % 2 else 4).enqueue(i)
    expected = [i for i in range(20) if i % 2] + [i for i in range(20) if not i % 2]
    assert args_of(claim(app, clock, limit=7)) + args_of(claim(app, clock, limit=100)) == expected


def test_a_batch_claim_takes_only_the_best_jobs(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    app.enqueue_many([echo.options(priority=p).job(p) for p in range(10, 0, -1)])
    assert args_of(claim(app, clock, limit=3)) == [1, 2, 3]
    assert app.admin.counts()["default"]["running"] == 3
    assert app.admin.counts()["default"]["queued"] == 7


def test_aging_lets_an_old_low_priority_job_overtake(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    app.queue("bulk", aging=60.0)
    echo.options(queue="bulk", priority=9).enqueue("old-p9")
    clock.advance(10 * 60.0)  # waited 10 minutes: worth more than 8 priority steps at 60 s each
    echo.options(queue="bulk", priority=1).enqueue("new-p1")
    assert args_of(claim(app, clock, queues=("bulk",))) == ["old-p9", "new-p1"]


def test_strict_priority_is_the_default_without_aging(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    echo.options(priority=9).enqueue("old-p9")
    clock.advance(3600.0)
    echo.options(priority=1).enqueue("new-p1")
    assert args_of(claim(app, clock)) == ["new-p1", "old-p9"]


def test_delayed_job_is_scheduled_until_due(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    handle = echo.options(delay=30).enqueue("later")
    assert handle.status() == "scheduled"
    assert claim(app, clock) == []
    clock.advance(31)
    assert args_of(claim(app, clock)) == ["later"]
    assert handle.status() == "running"


def test_eta_schedules_a_job(app: taskheap.App, clock: FixedClock) -> None:
    import datetime as dt

    echo = declare(app)
    eta = dt.datetime.fromtimestamp(clock.now() + 100, tz=dt.UTC)
    handle = echo.options(eta=eta).enqueue("at-eta")
    assert handle.info().run_at == pytest.approx(clock.now() + 100)
    clock.advance(99)
    assert claim(app, clock) == []
    clock.advance(2)
    assert len(claim(app, clock)) == 1


def test_claim_gives_each_job_a_fresh_lease_token(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    echo.enqueue(1)
    (first,) = claim(app, clock)
    assert first.attempts == 1
    app.backend.fail([Failure(first.id, first.token, "boom", None, 0.0)], now=clock.now())
    (second,) = claim(app, clock)
    assert second.id == first.id and second.attempts == 2
    assert second.token != first.token


def test_failure_with_retry_time_waits_as_retrying(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    handle = echo.enqueue(1)
    (job,) = claim(app, clock)
    accepted = app.backend.fail(
        [Failure(job.id, job.token, "ValueError: no", "Traceback...", 5.0)], now=clock.now()
    )
    assert accepted == [job.id]
    info = handle.info()
    assert info.status == JobState.RETRYING and info.error == "ValueError: no"
    assert claim(app, clock) == []
    clock.advance(6)
    assert [j.id for j in claim(app, clock)] == [job.id]


def test_started_at_is_the_start_of_the_last_attempt(app: taskheap.App, clock: FixedClock) -> None:
    """So that how long the last attempt ran is finished_at - started_at (the dashboard's)."""
    echo = declare(app)
    handle = echo.enqueue(1)
    (job,) = claim(app, clock)
    assert handle.info().started_at == clock.now()
    app.backend.fail([Failure(job.id, job.token, "boom", None, 5.0)], now=clock.now())
    clock.advance(60)
    (again,) = claim(app, clock)
    app.backend.complete([Completion(again.id, again.token, "1")], now=clock.now() + 2)
    info = handle.info()
    assert (info.started_at, info.finished_at) == (clock.now(), clock.now() + 2)


def test_a_retry_falls_due_its_delay_after_the_failures_now(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    handle = echo.enqueue(1)
    (job,) = claim(app, clock)
    app.backend.fail([Failure(job.id, job.token, "boom", None, 7.5)], now=clock.now() + 100)
    assert handle.info().run_at == clock.now() + 107.5


def test_without_now_the_stores_own_clock_dates_a_retry(app: taskheap.App) -> None:
    """now=None: the store dates the retry from its own clock plus the delay the caller sent
    (the servers under test share this host's clock, so this shows the delay is relative and
    applied by the store; a caller with a wrong clock could only send a delay)."""
    echo = declare(app)
    handle = echo.enqueue(1)
    (job,) = app.backend.claim(["default"], "w1", 1, LEASE)
    before = time.time()
    app.backend.fail([Failure(job.id, job.token, "boom", None, 1000.0)])
    after = time.time()
    run_at = handle.info().run_at
    assert run_at is not None and before - 1.0 <= run_at - 1000.0 <= after + 1.0


def test_failure_without_retry_time_is_a_dead_letter(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    handle = echo.enqueue({"k": [1, 2]})
    (job,) = claim(app, clock)
    app.backend.fail(
        [Failure(job.id, job.token, "KeyError: 'x'", "Traceback (most recent call last)", None)],
        now=clock.now(),
    )
    info = handle.info()
    assert info.status == JobState.DEAD
    assert info.args == [{"k": [1, 2]}] and info.attempts == 1
    assert info.traceback == "Traceback (most recent call last)"
    assert info.finished_at == clock.now()
    with pytest.raises(taskheap.JobFailed, match="KeyError"):
        handle.result(timeout=1)
    assert [j.id for j in app.admin.jobs(state="dead")] == [job.id]


def test_completion_stores_the_result_for_any_reader(
    app: taskheap.App, clock: FixedClock, backend_url: str
) -> None:
    echo = declare(app)
    handle = echo.enqueue(1)
    (job,) = claim(app, clock)
    assert app.backend.complete([Completion(job.id, job.token, '{"sum":3}')], now=clock.now()) == [job.id]
    other = taskheap.App(backend_url)
    assert other.get_job(handle.id).result(timeout=1) == {"sum": 3}
    info = other.get_job(handle.id).info()
    assert info.status == JobState.SUCCEEDED and info.finished_at == clock.now()
    other.close()


def test_stale_token_cannot_overwrite_the_new_run(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    handle = echo.enqueue(1)
    (old,) = claim(app, clock, worker="paused-worker")
    clock.advance(LEASE + 1)
    assert Rescuer(app.backend, app.backend).run_once(now=clock.now()) == 1
    clock.advance(700)  # past any backoff
    (new,) = claim(app, clock, worker="w2")
    assert app.backend.complete([Completion(old.id, old.token, '"stale"')], now=clock.now()) == []
    assert app.backend.fail([Failure(old.id, old.token, "stale", None, None)], now=clock.now()) == []
    assert (
        app.backend.heartbeat(_worker("paused-worker"), [Lease(old.id, old.token)], LEASE, now=clock.now())
        == set()
    )
    assert app.backend.complete([Completion(new.id, new.token, '"fresh"')], now=clock.now()) == [new.id]
    assert handle.result(timeout=1) == "fresh"


def test_expired_lease_counts_as_an_attempt(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    handle = echo.options(retries=0).enqueue(1)
    claim(app, clock)
    assert app.backend.expired(10, now=clock.now()) == []
    clock.advance(LEASE + 1)
    assert Rescuer(app.backend, app.backend).run_once(now=clock.now()) == 1
    info = handle.info()
    assert info.status == JobState.DEAD and "lease expired" in (info.error or "")


def test_released_job_is_queued_again_with_its_attempt_unspent(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    handle = echo.enqueue(1)
    (job,) = claim(app, clock)
    app.backend.release([Lease(job.id, job.token)])
    assert handle.status() == "queued" and handle.info().attempts == 0
    assert [j.attempts for j in claim(app, clock)] == [1]


def test_claim_across_queues_takes_the_best_of_each(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    echo.options(queue="a", priority=5).enqueue("a5")
    echo.options(queue="b", priority=1).enqueue("b1")
    echo.options(queue="c", priority=0).enqueue("c0")
    assert args_of(claim(app, clock, queues=("a", "b"))) == ["b1", "a5"]


def test_prune_deletes_finished_jobs_past_retention(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    old, dead = echo.enqueue(1), echo.enqueue(2)
    jobs = claim(app, clock)
    app.backend.complete([Completion(jobs[0].id, jobs[0].token, "1")], now=clock.now())
    app.backend.fail([Failure(jobs[1].id, jobs[1].token, "x", None, None)], now=clock.now())
    clock.advance(100)
    fresh = echo.enqueue(3)
    (job,) = claim(app, clock)
    app.backend.complete([Completion(job.id, job.token, "3")], now=clock.now())
    assert app.backend.prune(50, 100, now=clock.now()) == 1
    assert app.backend.get(old.id) is None
    assert dead.status() == "dead", "dead letters are never pruned silently"
    assert fresh.status() == "succeeded"


def test_one_pruning_pass_keeps_up_with_more_than_a_batch(app: taskheap.App, clock: FixedClock) -> None:
    """A worker finishing thousands of jobs a second must prune as fast: one pass deletes batch
    after batch while they come back full (it deleted one batch of 500 a minute, so a flood's
    finished jobs piled up whatever the retention)."""
    echo = declare(app)
    app.enqueue_many([echo.job(i) for i in range(BATCH * 2 + 100)])
    while jobs := claim(app, clock, limit=500):
        app.backend.complete([Completion(j.id, j.token, "null") for j in jobs], now=clock.now())
    clock.advance(100)
    pruner = Pruner(app.backend, app.backend, app.backend, result_ttl=50, worker_ttl=3600)
    assert pruner.run_once(now=clock.now()) == BATCH * 2 + 100
    assert not pruner.backlog
    assert app.backend.count_jobs(JobQuery()) == 0


def test_non_json_arguments_enqueue_nothing(app: taskheap.App) -> None:
    echo = declare(app)
    with pytest.raises(TypeError, match="echo"):
        app.enqueue_many([echo.job(1), echo.job(object())])
    with pytest.raises(TypeError):
        echo.enqueue({1, 2})
    assert app.stats()["queues"] == {}


def test_oversized_payload_is_refused(backend_url: str) -> None:
    small = taskheap.App(backend_url, max_payload=1000)
    echo = declare(small)
    with pytest.raises(taskheap.PayloadError, match="1000-byte limit"):
        echo.enqueue("x" * 2000)
    assert small.stats()["queues"] == {}
    small.close()


def test_promote_due_queues_waiting_jobs(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    handle = echo.options(delay=5).enqueue(1)
    assert app.backend.promote_due(now=clock.now()) == 0
    clock.advance(6)
    assert app.backend.promote_due(now=clock.now()) == 1
    assert handle.status() == "queued"


def test_a_claim_takes_a_job_that_fell_due_before_it_by_rank(app: taskheap.App, clock: FixedClock) -> None:
    """The delayed job is the better one and is due by the time of the claim, which is the
    first to see either job (on Redis both are still in the inbox)."""
    echo = declare(app)
    echo.options(priority=9).enqueue("queued, worse")
    echo.options(priority=1, delay=5).enqueue("due, better")
    clock.advance(6)
    claimed = app.backend.claim(["default"], "w1", 1, LEASE, now=clock.now())
    assert args_of(claimed) == ["due, better"]


def test_concurrent_claims_never_hand_out_a_job_twice(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    app.enqueue_many([echo.job(i) for i in range(2000)])
    claimed: list[str] = []
    lock = threading.Lock()

    def grab(worker: str) -> None:
        while True:
            jobs = app.backend.claim(["default"], worker, 7, LEASE, now=clock.now())
            if not jobs:
                return
            with lock:
                claimed.extend(j.id for j in jobs)

    threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 2000
    assert Counter(claimed).most_common(1)[0][1] == 1


def test_raw_payload_is_stored_as_given(app: taskheap.App, clock: FixedClock) -> None:
    """Backends store payload bytes untouched, even ones the codec would refuse."""
    app.backend.enqueue([_raw_job("raw-1", "{not json")])
    (job,) = claim(app, clock)
    assert job.payload == "{not json" and job.task == "echo"
    assert app.backend.list_jobs(JobQuery(ids=("raw-1",)))[0].payload == "{not json"


def test_every_failed_attempt_is_kept_with_its_error_traceback_worker_and_time(
    app: taskheap.App, clock: FixedClock
) -> None:
    enqueue_one(app)
    first_at = clock.now()
    run_and_fail(app, clock, 1, worker="w1")
    clock.advance(5)
    run_and_fail(app, clock, 2, worker="w2", retry=False)
    record = stored(app)
    assert record.state == JobState.DEAD
    assert (record.error, record.traceback) == ("E2", "T2")
    assert record.failed_attempts == [
        FailedAttempt(1, "E1", "T1", "w1", first_at),
        FailedAttempt(2, "E2", "T2", "w2", clock.now()),
    ]
    assert app.admin.job(JOB_ID).failed_attempts == record.failed_attempts


def test_the_log_keeps_only_the_newest_attempts(app: taskheap.App, clock: FixedClock) -> None:
    enqueue_one(app)
    for n in range(1, FAILED_ATTEMPTS_KEPT + 3):
        run_and_fail(app, clock, n)
        clock.advance(1)
    log = stored(app).failed_attempts
    assert [a.attempt for a in log] == list(range(3, FAILED_ATTEMPTS_KEPT + 3))
    assert log[-1].error == f"E{FAILED_ATTEMPTS_KEPT + 2}"


def test_a_stale_token_adds_nothing_to_the_log(app: taskheap.App, clock: FixedClock) -> None:
    enqueue_one(app)
    stale = run_and_fail(app, clock, 1)
    app.backend.fail([Failure(stale.id, stale.token, "late", None, None)], now=clock.now())
    assert [a.error for a in stored(app).failed_attempts] == ["E1"]


def test_lost_runs_appear_in_the_log_as_lease_expired(app: taskheap.App, clock: FixedClock) -> None:
    enqueue_one(app)
    app.backend.claim(["default"], "lost-worker", 1, LEASE, now=clock.now())
    clock.advance(LEASE + 1)
    assert Rescuer(app.backend, app.backend).run_once(now=clock.now()) == 1
    (attempt,) = stored(app).failed_attempts
    assert attempt.attempt == 1 and attempt.worker == "lost-worker"
    assert attempt.error.startswith("lease expired") and attempt.finished_at == clock.now()


def test_a_job_that_never_failed_has_an_empty_log(app: taskheap.App) -> None:
    enqueue_one(app)
    assert stored(app).failed_attempts == []
    assert [r.failed_attempts for r in app.backend.list_jobs(JobQuery())] == [[]]
