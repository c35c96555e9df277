"""`taskheap top`: a live full-screen view of the admin API, with keys to act on it.

`Top` holds the view state and is driven by `handle(key)` and `render()` (pure over the last
`refresh()`), so tests feed it keys and read a recorded Console. `run_top` adds the terminal:
rich Live on the alternate screen, a key reader thread, and a refresh every REFRESH seconds.

Keys: ↑/↓ (k/j) move · tab switch between queues and failures · enter open a job (every failed
attempt with its traceback) · esc close · r retry a dead job (from scratch) or a retrying one
(now) · x purge a dead job · p pause/resume a queue · f filter by the selected queue (again:
all) · q quit.
"""

from __future__ import annotations

import io
import os
import queue as queues
import select
import sys
import termios
import threading
import time
import tty
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..admin import Admin, JobFilter, Overview
from ..job import ALL_STATES, JobInfo, JobState
from ..views import bar, render_job, short_id, sparkline, when, workers_table

REFRESH = 0.4  # seconds: at least twice a second
FEED = 12
BAR_WIDTH = 16
HELP = "↑↓ move  tab queues/failures  enter open  r retry  x purge  p pause/resume  f filter  q quit"
KEYS = {"\x1b[A": "up", "\x1b[B": "down", "k": "up", "j": "down", "\t": "tab", "\r": "enter", "\n": "enter"}
KEYS |= {"\x1b": "esc", "r": "retry", "x": "purge", "p": "pause", "f": "filter", "q": "quit"}


@dataclass
class Top:
    admin: Admin
    clock: Callable[[], float] = time.time
    pane: str = "queues"  # or "failures"
    cursor: dict[str, int] = field(default_factory=lambda: {"queues": 0, "failures": 0})
    only: str | None = None  # the queue filter
    opened: JobInfo | None = None
    message: str = ""
    overview: Overview | None = None
    failures: list[JobInfo] = field(default_factory=list)

    def refresh(self) -> None:
        self.overview = self.admin.overview(self.clock())
        dead = self.admin.find(JobFilter(queue=self.only, state=JobState.DEAD), limit=FEED)
        retrying = self.admin.find(JobFilter(queue=self.only, state=JobState.RETRYING), limit=FEED)
        self.failures = sorted(dead + retrying, key=lambda j: j.id, reverse=True)[:FEED]

    @property
    def queue_names(self) -> list[str]:
        names = sorted(self.overview.counts) if self.overview else []
        return [q for q in names if self.only in (None, q)]

    def _rows(self) -> int:
        return len(self.queue_names) if self.pane == "queues" else len(self.failures)

    def selected_queue(self) -> str | None:
        names = self.queue_names
        return names[min(self.cursor["queues"], len(names) - 1)] if names else None

    def selected_job(self) -> JobInfo | None:
        if not self.failures:
            return None
        return self.failures[min(self.cursor["failures"], len(self.failures) - 1)]

    # -- keys ---------------------------------------------------------------------------
    def handle(self, key: str) -> bool:
        """Act on one key; False when it is time to quit."""
        action = KEYS.get(key)
        if action == "quit":
            return False
        if action in ("up", "down"):
            step = -1 if action == "up" else 1
            self.cursor[self.pane] = max(0, min(self.cursor[self.pane] + step, self._rows() - 1))
        elif action == "tab":
            self.pane = "failures" if self.pane == "queues" else "queues"
        elif action == "esc":
            self.opened = None
        elif action is not None:
            self._act(action)
            self.refresh()
        return True

    def _act(self, action: str) -> None:
        job = self.selected_job() if self.pane == "failures" else None
        queue = self.selected_queue()
        if action == "enter" and job is not None:
            self.opened = self.admin.job(job.id)
        elif action == "retry" and job is not None:
            self._retry(job)
        elif action == "purge" and job is not None:
            self._purge(job)
        elif action == "pause" and queue is not None:
            paused = self.overview is not None and queue in self.overview.paused
            (self.admin.resume if paused else self.admin.pause)(queue)
            self.message = f"{'resumed' if paused else 'paused'} {queue}"
        elif action == "filter":
            self.only = None if self.only else queue
            self.cursor["queues"] = 0
            self.message = f"showing queue {self.only}" if self.only else "showing every queue"

    def _retry(self, job: JobInfo) -> None:
        """A dead job from scratch, a retrying one now (the failures feed lists only these)."""
        done = self.admin.replay([job.id], state=job.status)
        self.message = f"retried {job.id}" if done else f"{job.id} is no longer {job.status}"
        self.opened = None

    def _purge(self, job: JobInfo) -> None:
        if job.status != JobState.DEAD:
            self.message = f"{short_id(job.id)} is {job.status}: only dead jobs can be purged"
            return
        done = self.admin.purge([job.id])
        self.message = f"purged {job.id}" if done else f"{job.id} is no longer dead"
        self.opened = None

    # -- rendering ----------------------------------------------------------------------
    def render(self) -> RenderableType:
        if self.overview is None:
            return Text("loading…")
        if self.opened is not None:
            return Group(_header(self), Panel(render_job(self.opened), title="job (esc to close)"))
        body = Table.grid(padding=(0, 1), expand=True)
        body.add_row(_queues_panel(self), _priority_panel(self))
        body.add_row(_activity_panel(self.overview), _workers_panel(self.overview))
        return Group(_header(self), body, _failures_panel(self), Text(HELP, style="dim"))


def _header(top: Top) -> Text:
    assert top.overview is not None
    busy, total = top.overview.slots
    text = Text(f"taskheap top  {when(top.overview.at)}  ", style="bold")
    # The URL goes last: a long file path must not push the live figures off a narrow screen.
    text.append(f"workers {len(top.overview.workers)}  slots {busy}/{total} busy  {top.admin.backend.url}")
    if top.only:
        text.append(f"  filter: {top.only}", style="yellow")
    if top.message:
        text.append(f"  · {top.message}", style="cyan")
    return text


def _queues_panel(top: Top) -> Panel:
    assert top.overview is not None
    table = Table(box=None, padding=(0, 1))
    table.add_column("queue", no_wrap=True)
    for state in ALL_STATES:
        table.add_column(state, justify="right")
    table.add_column("oldest queued", justify="right")
    for n, queue in enumerate(top.queue_names):
        counts = top.overview.counts[queue]
        age = top.overview.oldest.get((queue, JobState.QUEUED))
        name = queue + (" (paused)" if queue in top.overview.paused else "")
        style = "reverse" if top.pane == "queues" and n == top.cursor["queues"] else ""
        cells = [str(counts.get(s, 0)) for s in ALL_STATES]
        table.add_row(name, *cells, "-" if age is None else f"{age:.0f}s", style=style)
    return Panel(table, title="queues", title_align="left")


def _priority_panel(top: Top) -> Panel:
    assert top.overview is not None
    depth: dict[int, int] = {}
    for queue, by_priority in top.overview.by_priority.items():
        if top.only in (None, queue):
            for priority, n in by_priority.items():
                depth[priority] = depth.get(priority, 0) + n
    table = Table.grid(padding=(0, 1))
    peak = max(depth.values(), default=0)
    for priority, n in sorted(depth.items()):
        table.add_row(f"P{priority}", f"{n:>6}", bar(n, peak, BAR_WIDTH, "cyan"))
    if not depth:
        table.add_row("(nothing queued)")
    return Panel(table, title="queued by priority", title_align="left")


def _activity_panel(overview: Overview) -> Panel:
    done = [m.completed for m in overview.activity]
    failed = [m.failed for m in overview.activity]
    last = overview.activity[-1] if overview.activity else None
    text = Text()
    text.append("done/min   ").append(sparkline(done), style="green").append(
        f" {last.completed if last else 0}\n"
    )
    text.append("failed/min ").append(sparkline(failed), style="red").append(f" {last.failed if last else 0}")
    return Panel(text, title="last hour", title_align="left")


def _workers_panel(overview: Overview) -> Panel:
    rows = ((w["id"], w["jobs"], w["silent_for"]) for w in overview.workers)
    return Panel(workers_table(rows), title="workers", title_align="left")


def _failures_panel(top: Top) -> Panel:
    table = Table(box=None, padding=(0, 1), expand=True)
    for header in ("id", "state", "queue", "task", "attempts", "error"):
        table.add_column(header, no_wrap=True, overflow="ellipsis", ratio=3 if header == "error" else None)
    for n, job in enumerate(top.failures):
        style = "reverse" if top.pane == "failures" and n == top.cursor["failures"] else ""
        state = Text(job.status, style="red" if job.status == JobState.DEAD else "yellow")
        table.add_row(job.id, state, job.queue, job.task, str(job.attempts), job.error or "", style=style)
    if not top.failures:
        table.add_row("(no failures)")
    return Panel(table, title="recent failures (dead and retrying)", title_align="left")


# -- the terminal -----------------------------------------------------------------------
def snapshot_text(admin: Admin, width: int = 120) -> str:
    """`--once`: one plain-text snapshot."""
    top = Top(admin)
    top.refresh()
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(top.render())
    return console.export_text()


def run_top(admin: Admin) -> None:
    top = Top(admin)
    keys: queues.SimpleQueue[str] = queues.SimpleQueue()
    with _raw_terminal() as read_key, Live(console=Console(), screen=True, auto_refresh=False) as live:
        threading.Thread(target=_read_keys, args=(read_key, keys), daemon=True).start()
        next_refresh = 0.0
        while True:
            if time.monotonic() >= next_refresh:
                top.refresh()
                next_refresh = time.monotonic() + REFRESH
            live.update(top.render(), refresh=True)
            try:
                key = keys.get(timeout=max(0.0, next_refresh - time.monotonic()))
            except queues.Empty:
                continue
            if not top.handle(key):
                return


@contextmanager
def _raw_terminal() -> Iterator[Callable[[], str]]:
    """Keys one at a time, unechoed; an escape sequence (arrow keys) arrives as one key."""
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def read_key() -> str:
        key = os.read(fd, 1).decode(errors="replace")
        while key.startswith("\x1b") and len(key) < 3 and select.select([fd], [], [], 0.02)[0]:
            key += os.read(fd, 1).decode(errors="replace")
        return key

    try:
        yield read_key
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _read_keys(read_key: Callable[[], str], keys: queues.SimpleQueue[str]) -> None:
    while True:
        keys.put(read_key())
