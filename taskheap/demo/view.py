"""The demo's dashboard, read only from the admin API.

`Monitor` turns admin reads into a `Snapshot`; `render` (a rich renderable, for a terminal) and
`progress_line` (plain text, for pipes and logs) are pure functions of a snapshot.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..admin import Admin
from ..job import ACTIVE, JobInfo, JobState
from ..views import bar, workers_table

BAR_WIDTH = 20
THROUGHPUT_WINDOW = 3.0
URGENT = range(1, 4)


@dataclass(frozen=True, slots=True)
class WorkerRow:
    id: str
    jobs: tuple[str, ...]
    heartbeat_age: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    elapsed: float
    states: Mapping[JobState, int]
    depth: Mapping[int, int]
    peak_depth: int
    workers: tuple[WorkerRow, ...]
    throughput: float

    def count(self, state: JobState) -> int:
        return self.states.get(state, 0)


class Throughput:
    """Jobs done per second over the last `window` seconds, from successive totals (0 at 0 s)."""

    def __init__(self, window: float = THROUGHPUT_WINDOW) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque([(0.0, 0)])

    def update(self, now: float, total: int) -> float:
        self._samples.append((now, total))
        while now - self._samples[0][0] > self.window:
            self._samples.popleft()
        then, earlier = self._samples[0]
        return (total - earlier) / (now - then) if now > then else 0.0


class Monitor:
    """Snapshots from the admin API, remembering what throughput and the bar scale need.

    Time counts from `started` (wall clock, as the store's timestamps are) and stops at the last
    job's finish once no job is active, so the last snapshot says what the summary says."""

    def __init__(self, admin: Admin, priorities: Iterable[int], started: float) -> None:
        self.admin = admin
        self.priorities = tuple(priorities)
        self.started = started
        self.finished_after: float | None = None
        self.peak_depth = 1
        self.throughput = Throughput()

    def snapshot(self) -> Snapshot:
        now = time.time()  # before the counts: a job they show active finishes after `now`
        states = _states(self.admin.counts())
        depth = dict.fromkeys(self.priorities, 0)
        for by_priority in self.admin.queued_by_priority().values():
            for priority, n in by_priority.items():
                depth[priority] = depth.get(priority, 0) + n
        self.peak_depth = max([self.peak_depth, *depth.values()])
        elapsed = self._elapsed(states, now)
        workers = tuple(WorkerRow(w["id"], tuple(w["jobs"]), w["silent_for"]) for w in self.admin.workers())
        return Snapshot(
            elapsed=elapsed,
            states=states,
            depth=depth,
            peak_depth=self.peak_depth,
            workers=workers,
            throughput=self.throughput.update(elapsed, states.get(JobState.SUCCEEDED, 0)),
        )

    def _elapsed(self, states: Mapping[JobState, int], now: float) -> float:
        if self.finished_after is None and not any(states[s] for s in ACTIVE):
            jobs = self.admin.jobs(limit=sum(states.values()))
            self.finished_after = finished_after(jobs, self.started)
        return now - self.started if self.finished_after is None else self.finished_after


def finished_after(jobs: Sequence[JobInfo], started: float) -> float:
    """Seconds from `started` to the last finish among `jobs` (0 if none finished)."""
    return max((j.finished_at for j in jobs if j.finished_at is not None), default=started) - started


def _states(queues: Mapping[str, Mapping[str, int]]) -> dict[JobState, int]:
    totals = dict.fromkeys(JobState, 0)
    for by_state in queues.values():
        for state, n in by_state.items():
            totals[JobState(state)] += n
    return totals


def progress_line(s: Snapshot) -> str:
    return (
        f"t={s.elapsed:.1f}s done={s.count(JobState.SUCCEEDED)} retrying={s.count(JobState.RETRYING)}"
        f" dead={s.count(JobState.DEAD)} queued={s.count(JobState.QUEUED)}"
        f" running={s.count(JobState.RUNNING)} throughput={s.throughput:.0f}/s"
    )


def render(s: Snapshot) -> RenderableType:
    panels = Table.grid(padding=(0, 1))
    panels.add_row(
        Panel(
            workers_table((w.id, w.jobs, w.heartbeat_age) for w in s.workers),
            title="workers",
            title_align="left",
        ),
        Panel(_depth_table(s), title="queued by priority", title_align="left"),
    )
    return Group(_counters(s), panels)


def _counters(s: Snapshot) -> Text:
    counters = [
        ("done", s.count(JobState.SUCCEEDED), "green"),
        ("retrying", s.count(JobState.RETRYING), "yellow"),
        ("dead", s.count(JobState.DEAD), "red"),
        ("queued", s.count(JobState.QUEUED), "cyan"),
        ("running", s.count(JobState.RUNNING), "blue"),
    ]
    text = Text().append(f"{s.elapsed:5.1f} s  ", style="bold")
    for label, n, style in counters:
        text.append(f"{label} ").append(str(n), style=f"bold {style}").append("  ")
    return text.append(f"{s.throughput:.0f} jobs/s", style="bold")


def _depth_table(s: Snapshot) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column()
    table.add_column()
    table.add_column(min_width=BAR_WIDTH)
    for priority, n in sorted(s.depth.items()):
        style = "magenta" if priority in URGENT else "cyan"
        table.add_row(
            Text(f"P{priority}", style=style), Text(f"{n:>4}"), bar(n, s.peak_depth, BAR_WIDTH, style)
        )
    return table
