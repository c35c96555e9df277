"""The backend contract: every backend must pass all of this unchanged."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

import taskheap
from taskheap.backends.base import ClaimedJob, Completion, Failure, JobQuery, Lease, NewJob, WorkerInfo
from taskheap.clock import FixedClock
from taskheap.job import JobState
from taskheap.worker.maintenance import Rescuer

LEASE = 30.0


def declare(app: taskheap.App) -> taskheap.Task:  # type: ignore[type-arg]
    @app.task(name="echo")
    def echo(x: object) -> object:
        return x

    return echo


def claim(
    app: taskheap.App,
    clock: FixedClock,
    limit: int = 100,
    queues: tuple[str, ...] = ("default",),
    worker: str = "w1",
) -> list[ClaimedJob]:
    return app.backend.claim(list(queues), worker, limit, LEASE, now=clock.now())


def args_of(jobs: list[ClaimedJob]) -> list[object]:
    import json

    return [json.loads(j.payload)["args"][0] for j in jobs]


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
    app.backend.fail([Failure(first.id, first.token, "boom", None, clock.now())], now=clock.now())
    (second,) = claim(app, clock)
    assert second.id == first.id and second.attempts == 2
    assert second.token != first.token


def test_failure_with_retry_time_waits_as_retrying(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    handle = echo.enqueue(1)
    (job,) = claim(app, clock)
    accepted = app.backend.fail(
        [Failure(job.id, job.token, "ValueError: no", "Traceback...", clock.now() + 5)], now=clock.now()
    )
    assert accepted == [job.id]
    info = handle.info()
    assert info.status == JobState.RETRYING and info.error == "ValueError: no"
    assert claim(app, clock) == []
    clock.advance(6)
    assert [j.id for j in claim(app, clock)] == [job.id]


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


def test_replayed_dead_letter_runs_again_from_scratch(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    handles = [echo.enqueue(i) for i in range(3)]
    jobs = claim(app, clock)
    app.backend.fail([Failure(j.id, j.token, "boom", None, None) for j in jobs], now=clock.now())
    assert app.admin.replay([handles[0].id]) == 1
    assert handles[0].status() == "queued" and handles[0].info().attempts == 0
    assert app.admin.replay() == 2
    assert len(claim(app, clock)) == 3


def test_purge_deletes_dead_letters_only(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    dead, alive = echo.enqueue("dead"), echo.enqueue("alive")
    (job, _) = claim(app, clock, limit=2)
    app.backend.fail([Failure(job.id, job.token, "boom", None, None)], now=clock.now())
    assert app.admin.purge() == 1
    with pytest.raises(taskheap.JobNotFound):
        dead.info()
    assert alive.status() == "running"
    with pytest.raises(ValueError):
        app.admin.purge(state="running")


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


def test_complete_and_claim_acknowledges_then_claims_the_next_best(
    app: taskheap.App, clock: FixedClock
) -> None:
    echo = declare(app)
    for p in (4, 1, 3, 2):
        echo.options(priority=p).enqueue(p)
    first, second = claim(app, clock, limit=2)
    done = [Completion(first.id, first.token, "1"), Completion(second.id, first.token, "2")]  # 2nd: stale
    completed, jobs = app.backend.complete_and_claim(done, ["default"], "w1", 5, LEASE, now=clock.now())
    assert completed == [first.id]
    assert args_of(jobs) == [3, 4] and all(j.token for j in jobs)
    assert app.get_job(first.id).info().status == JobState.SUCCEEDED
    assert app.get_job(second.id).info().status == JobState.RUNNING


def test_result_times_out_while_the_job_is_unfinished(app: taskheap.App) -> None:
    handle = declare(app).enqueue(1)
    with pytest.raises(TimeoutError):
        handle.result(timeout=0.05)


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


def test_heartbeat_extends_leases_and_registers_the_worker(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    echo.enqueue(1)
    (job,) = claim(app, clock)
    clock.advance(LEASE - 1)
    owned = app.backend.heartbeat(_worker("w1", [job.id]), [Lease(job.id, job.token)], LEASE, now=clock.now())
    assert owned == {job.id}
    beat_at = clock.now()
    clock.advance(LEASE - 1)
    assert app.backend.expired(10, now=clock.now()) == []
    (worker,) = app.backend.workers()
    assert worker.id == "w1" and worker.jobs == [job.id] and worker.last_seen == beat_at
    app.backend.unregister("w1")
    assert app.backend.workers() == []


def test_released_job_is_queued_again_with_its_attempt_unspent(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    handle = echo.enqueue(1)
    (job,) = claim(app, clock)
    app.backend.release([Lease(job.id, job.token)])
    assert handle.status() == "queued" and handle.info().attempts == 0
    assert [j.attempts for j in claim(app, clock)] == [1]


def test_paused_queue_is_not_claimed_until_resumed(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    echo.enqueue(1)
    app.admin.pause("default")
    assert claim(app, clock) == []
    app.admin.resume("default")
    assert len(claim(app, clock)) == 1


def test_claim_across_queues_takes_the_best_of_each(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    echo.options(queue="a", priority=5).enqueue("a5")
    echo.options(queue="b", priority=1).enqueue("b1")
    echo.options(queue="c", priority=0).enqueue("c0")
    assert args_of(claim(app, clock, queues=("a", "b"))) == ["b1", "a5"]


def test_cancel_stops_a_waiting_job_but_not_a_running_one(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    waiting, running = echo.options(priority=9).enqueue(1), echo.options(priority=1).enqueue(2)
    claim(app, clock, limit=1)
    assert waiting.cancel() is True and waiting.status() == "cancelled"
    assert running.cancel() is False and running.status() == "running"
    with pytest.raises(taskheap.JobCancelled):
        waiting.result(timeout=1)


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
    assert app.backend.prune(clock.now() - 50, 100) == 1
    assert app.backend.get(old.id) is None
    assert dead.status() == "dead", "dead letters are never pruned silently"
    assert fresh.status() == "succeeded"


def test_counts_by_queue_and_state_and_priority(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    app.enqueue_many([echo.options(queue="q1", priority=p).job(p) for p in (1, 1, 2)])
    echo.options(queue="q2", delay=10).enqueue(0)
    counts = app.stats()["queues"]
    assert counts["q1"]["queued"] == 3 and counts["q2"]["scheduled"] == 1
    assert set(counts["q1"]) == {s.value for s in JobState}
    assert app.admin.queued_by_priority()["q1"] == {1: 2, 2: 1}


def test_stats_has_the_documented_shape(app: taskheap.App) -> None:
    declare(app).enqueue(1)
    stats = app.stats()
    assert set(stats) == {"queues", "workers"}
    assert stats["queues"]["default"] == {
        "queued": 1,
        "scheduled": 0,
        "running": 0,
        "retrying": 0,
        "succeeded": 0,
        "dead": 0,
        "cancelled": 0,
    }


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


def test_list_jobs_filters_newest_first(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    handles = [echo.options(queue="q" if i % 2 else "r").enqueue(i) for i in range(6)]
    assert [j.id for j in app.admin.jobs(queue="q")] == [h.id for h in handles[1::2]][::-1]
    assert [j.id for j in app.admin.jobs(limit=2)] == [h.id for h in handles[-2:]][::-1]
    assert app.admin.jobs(task="nope") == []


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


def _raw_job(job_id: str, payload: str) -> NewJob:
    return NewJob(job_id, "echo", "default", 5, 5.0, payload, 1.0, None, 3, None, None)


def _worker(worker_id: str, jobs: list[str] | None = None) -> WorkerInfo:
    return WorkerInfo(worker_id, "host", 1, ["default"], 4, 0.0, 0.0, jobs or [])


def test_an_idle_wait_and_claim_takes_the_job_enqueued_while_it_waits(app: taskheap.App) -> None:
    echo = declare(app)
    app.backend.claim(["default"], "w1", 1, LEASE)  # the store is set up before the wait
    threading.Timer(0.2, lambda: echo.enqueue("late")).start()
    started = time.monotonic()
    jobs = app.backend.wait_and_claim(["default"], "w1", 10, LEASE, timeout=5.0)
    assert args_of(jobs) == ["late"]
    assert time.monotonic() - started < 3.0
    assert app.backend.get(jobs[0].id).state == JobState.RUNNING  # type: ignore[union-attr]


def test_wait_and_claim_takes_the_best_of_the_jobs_that_woke_it(app: taskheap.App) -> None:
    echo = declare(app)
    app.backend.claim(["default"], "w1", 1, LEASE)
    jobs = [echo.options(priority=p).job(p) for p in (9, 2, 5)]
    threading.Timer(0.2, lambda: app.enqueue_many(jobs)).start()
    assert args_of(app.backend.wait_and_claim(["default"], "w1", 2, LEASE, timeout=5.0)) == [2, 5]


def test_work_queued_before_a_wait_ends_it_at_once(app: taskheap.App) -> None:
    """The job arrives between a worker's empty claim and its wait, and a reader looks at the
    queue meanwhile (on Redis, a read ingests the inbox: the entry a wait blocks on is gone)."""
    echo = declare(app)
    assert app.backend.claim(["default"], "w1", 1, LEASE) == []
    echo.enqueue(1)
    assert app.backend.counts()["default"]["queued"] == 1
    started = time.monotonic()
    app.backend.wait_for_work(["default"], timeout=5.0)
    assert time.monotonic() - started < 2.0
    assert args_of(app.backend.wait_and_claim(["default"], "w1", 1, LEASE, timeout=5.0)) == [1]


def test_wait_and_claim_returns_nothing_when_no_work_comes(app: taskheap.App) -> None:
    declare(app)
    started = time.monotonic()
    assert app.backend.wait_and_claim(["default"], "w1", 10, LEASE, timeout=0.3) == []
    assert 0.25 <= time.monotonic() - started < 3.0
