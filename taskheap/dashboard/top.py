"""`taskheap top`: a live full-screen view of the admin API, with keys to act on it.

`Top` holds the view's state (`top_view.TopState`) and is driven by `handle(key)`; `render()` is
a renderable that lays the last `refresh()` out for whatever size it is drawn at, so tests feed
keys and read a recorded Console of any size. `run_top` adds the terminal: rich Live on the
alternate screen, a key reader thread, and a refresh every REFRESH seconds.

Keys: ↑/↓ (k/j) move, or scroll the open job (PgUp/PgDn a page) · tab move the focus: queues,
running jobs, failures · enter open a job (every field, its progress, every failed attempt with
its traceback) · esc close · r retry a dead job (from scratch) or a retrying one (now) · x purge a
dead job · c cancel a job: a running one gets a cancel request, a waiting one is cancelled (x and
c ask: y does it, any other key keeps the job) · p pause/resume a queue · f filter by the selected
queue (again: all) · q quit. A key that cannot act on the selected job (r or x on a running
one, c on a finished one) says why and changes nothing.

The running jobs are read newest first (by enqueue time, as every listing), only as many as
their panel has rows for on a screen the size of the last draw (FEED before a first draw): a
refresh costs O(rows on screen) for them, however many run. The cursor stays on the job it was
on across refreshes while that job is still listed.
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

from rich.console import Console, RenderableType
from rich.live import Live

from ..admin import Admin, JobFilter
from ..job import ACTIVE, REPLAYABLE, JobInfo, JobState
from ..views import short_id
from .top_view import FEED, PANES, Asked, TopScreen, TopState, layout, running_room

REFRESH = 0.4  # seconds: at least twice a second
KEYS = {"\x1b[A": "up", "\x1b[B": "down", "\x1bOA": "up", "\x1bOB": "down", "k": "up", "j": "down"}
KEYS |= {"\t": "tab", "\r": "enter", "\n": "enter"}
KEYS |= {"\x1b[5~": "page up", "\x1b[6~": "page down", " ": "page down"}
KEYS |= {"\x1b": "esc", "r": "retry", "x": "purge", "c": "cancel", "p": "pause", "f": "filter", "q": "quit"}


class Top:
    def __init__(self, admin: Admin, clock: Callable[[], float] = time.time) -> None:
        self.admin = admin
        self.clock = clock
        self.state = TopState(admin.backend.url)

    def refresh(self) -> None:
        state = self.state
        selected = state.selected_job()
        state.overview = self.admin.overview(self.clock())
        dead = self.admin.find(JobFilter(queue=state.only, state=JobState.DEAD), limit=FEED)
        retrying = self.admin.find(JobFilter(queue=state.only, state=JobState.RETRYING), limit=FEED)
        state.failures = sorted(dead + retrying, key=lambda j: j.id, reverse=True)[:FEED]
        state.running = self.admin.running(queue=state.only, limit=running_room(state))
        if selected is not None:
            self._follow(selected)

    def _follow(self, job: JobInfo) -> None:
        """Keep the focused pane's cursor on `job` while it is listed: newer jobs arriving above
        it would otherwise slide another job under the cursor between a look and a key."""
        ids = [j.id for j in self.state.listed()]
        if job.id in ids:
            self.state.cursor[self.state.pane] = ids.index(job.id)

    def render(self) -> RenderableType:
        return TopScreen(self.state)

    # -- keys ---------------------------------------------------------------------------
    def handle(self, key: str) -> bool:
        """Act on one key; False when it is time to quit."""
        state = self.state
        if state.pending is not None:
            self._answer(state.pending, key)
            self.refresh()
            return True
        action = KEYS.get(key)
        if action == "quit":
            return False
        if action in ("up", "down", "page up", "page down"):
            self._move(action)
        elif action == "tab":
            state.pane = PANES[(PANES.index(state.pane) + 1) % len(PANES)]
        elif action == "esc":
            state.opened = None
        elif action is not None:
            self._act(action)
            self.refresh()
        return True

    def _move(self, action: str) -> None:
        state = self.state
        step = {"up": -1, "down": 1, "page up": -state.page, "page down": state.page}[action]
        if state.opened is not None:
            state.scroll = max(0, min(state.scroll + step, state.last_scroll))
        elif action in ("up", "down"):
            state.cursor[state.pane] = max(0, min(state.cursor[state.pane] + step, state.rows() - 1))

    def _act(self, action: str) -> None:
        state = self.state
        job = state.opened or state.selected_job()  # the job open, else the one under the cursor
        queue = state.selected_queue()
        if action == "enter" and job is not None:
            state.opened, state.scroll, state.last_scroll = self.admin.job(job.id), 0, 1 << 30
        elif action == "retry" and job is not None:
            self._retry(job)
        elif action == "purge" and job is not None:
            self._ask("purge", job, frozenset({JobState.DEAD}), "only dead jobs can be purged")
        elif action == "cancel" and job is not None:
            self._ask("cancel", job, ACTIVE, "only running or waiting jobs can be cancelled")
        elif action == "pause" and queue is not None:
            paused = state.overview is not None and queue in state.overview.paused
            (self.admin.resume if paused else self.admin.pause)(queue)
            state.message = f"{'resumed' if paused else 'paused'} {queue}"
        elif action == "filter":
            state.only = None if state.only else queue
            state.cursor["queues"] = 0
            state.message = f"showing queue {state.only}" if state.only else "showing every queue"

    def _retry(self, job: JobInfo) -> None:
        """A dead job from scratch, a retrying one now; any other is refused, untouched."""
        if job.status not in REPLAYABLE:
            self.state.message = (
                f"{short_id(job.id)} is {job.status}: only dead or retrying jobs can be retried"
            )
            return
        done = self.admin.replay([job.id], state=job.status)
        self.state.message = f"retried {job.id}" if done else f"{job.id} is no longer {job.status}"
        self.state.opened = None

    def _ask(self, action: str, job: JobInfo, states: frozenset[JobState], refusal: str) -> None:
        """Ask before `action` on a job in one of `states`; refuse any other, saying why."""
        if job.status not in states:
            self.state.message = f"{short_id(job.id)} is {job.status}: {refusal}"
            return
        self.state.pending = Asked(action, job)

    def _answer(self, asked: Asked, key: str) -> None:
        """The key after `x` or `c`: y purges (cancels) the job, any other keeps it."""
        state = self.state
        state.pending = None
        job = asked.job
        if key.lower() != "y":
            state.message = f"kept {job.id}"
        elif asked.action == "purge":
            done = self.admin.purge([job.id])
            state.message = f"purged {job.id}" if done else f"{job.id} is no longer dead"
            state.opened = None
        elif not self.admin.cancel(job.id):
            state.message = f"{job.id} has finished: nothing to cancel"
        else:
            # A running job learns of the request within about a second and ends cancelled
            # (unless it completes first); a waiting one is cancelled now.
            running = job.status == JobState.RUNNING
            state.message = f"cancel requested for {job.id}" if running else f"cancelled {job.id}"


# -- the terminal -----------------------------------------------------------------------
def snapshot_text(admin: Admin, width: int = 120) -> str:
    """`--once`: one plain-text snapshot."""
    top = Top(admin)
    top.refresh()
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(layout(top.state, width, None))
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
    """Keys one at a time, unechoed; an escape sequence (arrows, PgUp) arrives as one key."""
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def read_key() -> str:
        key = os.read(fd, 1).decode(errors="replace")
        while key.startswith("\x1b") and len(key) < 8 and select.select([fd], [], [], 0.02)[0]:
            key += os.read(fd, 1).decode(errors="replace")
            if len(key) > 2 and (key[-1].isalpha() or key[-1] == "~"):
                break  # the end of a CSI or SS3 sequence: ESC [ 5 ~, ESC [ A, ESC O A
        return key

    try:
        yield read_key
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _read_keys(read_key: Callable[[], str], keys: queues.SimpleQueue[str]) -> None:
    while True:
        keys.put(read_key())
