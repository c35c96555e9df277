"""The scheduler thread: every worker fires every schedule of its app (taskheap/schedule.py).

No leader: each fire is enqueued with the unique key `schedule:{name}:{fire time}` held for
longer than the misfire window, so of all the workers that see a fire due, the store lets one
enqueue it and the others find the duplicate; a worker late past the window no longer fires it.

Misfires: of the fires due since the last evaluation (at start: the last `misfire_grace`
seconds), the latest runs if it is at most `misfire_grace` late; the others are skipped, counted
in `skipped` and logged (at start they are not counted: another worker may have fired them).
A fire whose enqueue raises (the store out of reach, its queue full) is logged, counted in
`failed` and tried again RETRY_FAILED seconds later while still within its misfire grace; the
other schedules go on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..schedule import Schedule, iso

log = logging.getLogger("taskheap.scheduler")
RETRY_FAILED = 5.0  # seconds before a fire whose enqueue raised (store down, queue full) is tried again


class Scheduler:
    def __init__(self, app: Any, schedules: Mapping[str, Schedule]) -> None:
        self.app = app
        self.schedules = dict(schedules)
        self.checked: dict[str, float] = {}  # name -> the instant its fires were evaluated up to
        self.next_due: dict[str, float] = {}
        self.skipped: dict[str, int] = dict.fromkeys(self.schedules, 0)
        self.fired: dict[str, int] = dict.fromkeys(self.schedules, 0)  # enqueued by this worker
        self.failed: dict[str, int] = dict.fromkeys(self.schedules, 0)  # enqueues that raised

    def run_once(self, now: float) -> int:
        """Enqueue what is due at `now`; the number of jobs this call enqueued (not duplicates)."""
        enqueued = 0
        for name, schedule in self.schedules.items():
            first = name not in self.checked
            checked = self.checked.get(name, now - schedule.misfire_grace)
            if name in self.next_due and now < self.next_due[name]:
                continue
            fires = schedule.fires_between(checked, now)
            if fires and now - fires[-1] <= schedule.misfire_grace:
                try:
                    enqueued += self._fire(schedule, fires[-1])
                except Exception as exc:  # one schedule's failure stops no other
                    self.failed[name] += 1
                    self.next_due[name] = now + RETRY_FAILED
                    log.warning(
                        "schedule %s: could not fire %s (trying again in %gs while within its"
                        " misfire grace): %s",
                        name,
                        iso(fires[-1]),
                        RETRY_FAILED,
                        exc,
                    )
                    continue
                fires.pop()
            if fires and not first:
                self.skipped[name] += len(fires)
                log.warning(
                    "schedule %s: skipped %d missed fire(s), the last at %s", name, len(fires), iso(fires[-1])
                )
            self.checked[name] = now
            self.next_due[name] = schedule.next_fires(now, 1)[0]
        return enqueued

    def _fire(self, schedule: Schedule, fire: float) -> int:
        task = self.app.tasks[schedule.task]
        handle = task.options(
            unique_key=schedule.key(fire),
            unique_for=schedule.unique_for,
            headers={"schedule": schedule.name, "scheduled_for": fire},
        ).enqueue(*schedule.args, **schedule.kwargs)
        if handle.duplicate:
            return 0
        self.fired[schedule.name] += 1
        log.info("schedule %s: fired %s as job %s", schedule.name, iso(fire), handle.id)
        return 1
