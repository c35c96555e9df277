"""The scheduler against real stores, with explicit clocks (no waits): misfires, exactly one job
per (schedule, fire time) from many schedulers, a late worker after a pruned tick, a deploy."""

from __future__ import annotations

import json
import threading

import pytest

import taskheap
from taskheap.admin import SKIPPED_COUNTED
from taskheap.clock import FixedClock
from taskheap.worker.maintenance import Pruner
from taskheap.worker.scheduler import Scheduler

START = 1_700_000_000.0  # a multiple of 10 s


def declare(app: taskheap.App, every: float = 10.0, misfire_grace: float = 60.0) -> None:
    @app.task(name="tick")
    def tick() -> None: ...

    app.schedule(tick, every=every, name="tick", misfire_grace=misfire_grace)


def keys(app: taskheap.App) -> list[str | None]:
    return sorted(job.unique_key for job in app.admin.jobs(limit=1000))


def test_misfire_runs_the_latest_within_grace_and_counts_the_rest(
    app: taskheap.App, clock: FixedClock
) -> None:
    declare(app)
    scheduler = Scheduler(app, app.schedules)
    assert scheduler.run_once(START + 5) == 1  # at start: the latest fire of the last minute
    assert keys(app) == ["schedule:tick:2023-11-14T22:13:20+00:00"]
    assert scheduler.run_once(START + 9) == 0
    assert scheduler.run_once(START + 10) == 1
    assert scheduler.run_once(START + 45) == 1  # a pause: 20 and 30 skipped, 40 runs
    assert scheduler.skipped["tick"] == 2
    assert scheduler.run_once(START + 505) == 1  # 50 ... 490 skipped, 500 runs
    assert scheduler.skipped["tick"] == 2 + 45
    assert app.admin.jobs(limit=1)[0].unique_key == "schedule:tick:2023-11-14T22:21:40+00:00"
    # the store, not the worker, tells: fires since the oldest run with no job, past their grace
    ((shown,),) = [app.admin.schedules(app.schedules.values(), START + 505)]
    assert (shown["skipped"], shown["skipped_since"]) == (2 + 45, "2023-11-14T22:13:20+00:00")
    another_worker = Scheduler(app, app.schedules)
    assert another_worker.run_once(START + 505) == 0 and another_worker.skipped["tick"] == 0
    later = app.admin.schedules(app.schedules.values(), START + 5000)[0]["skipped"]
    assert later == 2 + 45 + 449  # 510 ... 4990 skipped; 5000 is due now and may still run


def test_skipped_fires_are_counted_up_to_a_bound_and_not_before_a_first_run(app: taskheap.App) -> None:
    declare(app, every=1.0, misfire_grace=1.0)
    assert app.admin.schedules(app.schedules.values(), START)[0]["skipped"] is None
    Scheduler(app, app.schedules).run_once(START)
    assert app.admin.schedules(app.schedules.values(), START + 5)[0]["skipped"] == 4  # +1 ... +4; +5 may run
    assert app.admin.schedules(app.schedules.values(), START + 10**6)[0]["skipped"] == SKIPPED_COUNTED


def test_a_fire_later_than_its_grace_is_skipped(app: taskheap.App) -> None:
    declare(app, misfire_grace=3.0)
    scheduler = Scheduler(app, app.schedules)
    assert scheduler.run_once(START + 5) == 0  # START is 5 s late
    assert scheduler.run_once(START + 12) == 1  # +10 is 2 s late: it runs
    assert keys(app) == ["schedule:tick:2023-11-14T22:13:30+00:00"]


def test_headers_carry_the_fire_time(app: taskheap.App) -> None:
    declare(app)
    Scheduler(app, app.schedules).run_once(START + 5)
    record = app.admin.record(app.admin.jobs(limit=1)[0].id)
    assert record is not None and json.loads(record.meta or "")["headers"] == {
        "schedule": "tick",
        "scheduled_for": START,
    }


def test_many_schedulers_enqueue_each_fire_once(backend_url: str, clock: FixedClock) -> None:
    apps = [taskheap.App(backend_url, clock=clock) for _ in range(4)]
    for app in apps:
        declare(app, every=1.0)
    schedulers = [Scheduler(app, app.schedules) for app in apps]
    enqueued: list[int] = []  # list.append is atomic
    for second in range(8):
        now = START + second + 0.5
        clock.value = now
        threads = [
            threading.Thread(target=lambda s=s, now=now: enqueued.append(s.run_once(now))) for s in schedulers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    found = keys(apps[0])
    assert len(found) == len(set(found)) == 8 == sum(enqueued)
    for app in apps:
        app.close()


def test_a_late_worker_does_not_fire_a_finished_and_pruned_tick(app: taskheap.App, clock: FixedClock) -> None:
    declare(app)
    clock.value = START + 1
    assert Scheduler(app, app.schedules).run_once(clock.value) == 1
    job_id = app.admin.jobs(limit=1)[0].id
    assert app.admin.cancel(job_id)
    clock.value = START + 8
    Pruner(app.backend, app.backend, app.backend, 5.0, 3600.0).run_once(clock.value)
    assert app.admin.jobs(limit=10) == []
    late = Scheduler(app, app.schedules)  # starts with the fire at START within its grace
    clock.value = START + 9
    assert late.run_once(clock.value) == 0
    assert app.admin.jobs(limit=10) == []


def test_a_changed_definition_at_deploy_does_not_run_a_fire_twice(
    app: taskheap.App, clock: FixedClock
) -> None:
    declare(app, every=10.0)
    clock.value = START + 1
    assert Scheduler(app, app.schedules).run_once(clock.value) == 1
    deployed = taskheap.App(app.url, clock=clock)  # the new release: every 5 s, same name
    declare(deployed, every=5.0)
    assert Scheduler(deployed, deployed.schedules).run_once(clock.value) == 0  # START is both's
    clock.value = START + 5
    assert Scheduler(deployed, deployed.schedules).run_once(clock.value) == 1
    assert len(keys(app)) == 2
    deployed.close()


def test_a_schedule_whose_enqueue_fails_stops_no_other_and_is_tried_again(
    app: taskheap.App, clock: FixedClock
) -> None:
    app.queue("tiny", max_length=1)

    @app.task(name="full", queue="tiny")
    def full() -> None: ...

    declare(app)
    app.schedule(full, every=10.0, name="full", misfire_grace=60.0)
    full.enqueue()  # the queue is full: every fire of "full" raises QueueFull
    scheduler = Scheduler(app, app.schedules)
    assert scheduler.run_once(START + 5) == 1  # "tick" fired; "full" failed
    assert scheduler.failed == {"tick": 0, "full": 1}
    assert scheduler.run_once(START + 10) == 1 and scheduler.failed["full"] == 2
    assert scheduler.run_once(START + 14) == 0 and scheduler.failed["full"] == 2  # waits RETRY_FAILED
    assert scheduler.run_once(START + 15) == 0 and scheduler.failed["full"] == 3
    assert sorted(j.unique_key for j in app.admin.jobs(task="tick")) == [
        "schedule:tick:2023-11-14T22:13:20+00:00",
        "schedule:tick:2023-11-14T22:13:30+00:00",
    ]


def test_a_task_with_a_unique_key_of_its_own_cannot_be_scheduled(app: taskheap.App) -> None:
    @app.task(name="keyed", unique=True)
    def keyed() -> None: ...

    with pytest.raises(ValueError, match=r"^schedule 'keyed': task 'keyed' declares a unique key"):
        app.schedule(keyed, every=10.0)
    with pytest.raises(ValueError, match="declares a unique key"):
        app.periodic(every=10.0, name="other", unique_key="k")(lambda: None)
