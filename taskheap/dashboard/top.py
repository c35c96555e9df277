"""`taskheap top`: a live full-screen view of the admin API, with keys to act on it.

`Top` holds the view's state (`top_view.TopState`) and is driven by `handle(key)`; `render()` is
a renderable that lays the last `refresh()` out for whatever size it is drawn at, so tests feed
keys and read a recorded Console of any size. `run_top` adds the terminal: rich Live on the
alternate screen, a key reader thread, and a refresh every REFRESH seconds.

Keys: ↑/↓ (k/j) move, or scroll the open job (PgUp/PgDn a page) · tab switch between queues and
failures · enter open a job (every failed attempt with its traceback) · esc close · r retry a
dead job (from scratch) or a retrying one (now) · x purge a dead job (asks: y purges, any other
key keeps it) · p pause/resume a queue · f filter by the selected queue (again: all) · q quit.
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
from ..job import JobInfo, JobState
from ..views import short_id
from .top_view import TopScreen, TopState, layout

REFRESH = 0.4  # seconds: at least twice a second
FEED = 30  # the newest dead and retrying jobs listed
KEYS = {"\x1b[A": "up", "\x1b[B": "down", "\x1bOA": "up", "\x1bOB": "down", "k": "up", "j": "down"}
KEYS |= {"\t": "tab", "\r": "enter", "\n": "enter"}
KEYS |= {"\x1b[5~": "page up", "\x1b[6~": "page down", " ": "page down"}
KEYS |= {"\x1b": "esc", "r": "retry", "x": "purge", "p": "pause", "f": "filter", "q": "quit"}


class Top:
    def __init__(self, admin: Admin, clock: Callable[[], float] = time.time) -> None:
        self.admin = admin
        self.clock = clock
        self.state = TopState(admin.backend.url)

    def refresh(self) -> None:
        state = self.state
        state.overview = self.admin.overview(self.clock())
        dead = self.admin.find(JobFilter(queue=state.only, state=JobState.DEAD), limit=FEED)
        retrying = self.admin.find(JobFilter(queue=state.only, state=JobState.RETRYING), limit=FEED)
        state.failures = sorted(dead + retrying, key=lambda j: j.id, reverse=True)[:FEED]

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
            state.pane = "failures" if state.pane == "queues" else "queues"
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
        job = state.selected_job() if state.pane == "failures" else None
        queue = state.selected_queue()
        if action == "enter" and job is not None:
            state.opened, state.scroll, state.last_scroll = self.admin.job(job.id), 0, 1 << 30
        elif action == "retry" and job is not None:
            self._retry(job)
        elif action == "purge" and job is not None:
            self._ask_purge(job)
        elif action == "pause" and queue is not None:
            paused = state.overview is not None and queue in state.overview.paused
            (self.admin.resume if paused else self.admin.pause)(queue)
            state.message = f"{'resumed' if paused else 'paused'} {queue}"
        elif action == "filter":
            state.only = None if state.only else queue
            state.cursor["queues"] = 0
            state.message = f"showing queue {state.only}" if state.only else "showing every queue"

    def _retry(self, job: JobInfo) -> None:
        """A dead job from scratch, a retrying one now (the failures feed lists only these)."""
        done = self.admin.replay([job.id], state=job.status)
        self.state.message = f"retried {job.id}" if done else f"{job.id} is no longer {job.status}"
        self.state.opened = None

    def _ask_purge(self, job: JobInfo) -> None:
        if job.status != JobState.DEAD:
            self.state.message = f"{short_id(job.id)} is {job.status}: only dead jobs can be purged"
            return
        self.state.pending = job

    def _answer(self, job: JobInfo, key: str) -> None:
        """The key after `x`: y purges the dead job for good, any other keeps it."""
        state = self.state
        state.pending = None
        if key.lower() != "y":
            state.message = f"kept {job.id}"
            return
        done = self.admin.purge([job.id])
        state.message = f"purged {job.id}" if done else f"{job.id} is no longer dead"
        state.opened = None


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
