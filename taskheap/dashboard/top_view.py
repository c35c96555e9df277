"""What `taskheap top` shows, laid out for the screen it has.

`TopState` is everything on screen (the last overview, running jobs and failures, the cursor,
what is open); `TopScreen(state)` is a rich renderable that fits itself to the console it is
drawn on: the header and the key help always take one line each; the panels share the rest by
priority (queues, then running jobs, then failures, then workers and activity), each showing the
window of its rows that holds its cursor; columns abbreviate, then drop, by priority when the
width is short. Each draw records its size, so a refresh reads only as many running jobs as the
next draw has rows for (`running_room`). `layout(state, width, None)` shows every row instead
(`top --once`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len, chop_cells
from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..admin import Overview, RunningJob
from ..job import ALL_STATES, JobInfo, JobState
from ..views import bar, duration, render_job, short_id, sparkline, when, workers_table
from .top_lists import Column, Row, Window, add_window, fit, job_table, table_of, titled

WIDE = 100  # columns from which the priority panel sits beside the queues
SPLIT = 80  # columns from which the activity panel sits beside the workers (below: not shown)
PANEL = 4  # the fewest lines of a panel: its borders, a header row and one row
BAR_WIDTH = 16
PROGRESS_BAR = 10  # cells of a running job's progress bar
FEED = 30  # the most jobs a list reads: the failures feed, the running jobs before a first draw
PANES = ("queues", "running", "failures")  # the order tab moves the focus in
HELP = {
    "list": (
        "↑↓ move  tab queues/running/failures  enter open  r retry  x purge  c cancel  p pause/resume"
        "  f filter  q quit",
        "↑↓ move  tab pane  ⏎ open  r retry  x purge  c cancel  p pause  f filter  q quit",
        "↑↓ tab ⏎ r x c p f q",
    ),
    "job": (
        "↑↓ scroll  PgUp/PgDn page  esc back  r retry  x purge  c cancel  q quit",
        "↑↓ PgUp/PgDn esc r x c q",
    ),
}


@dataclass(frozen=True, slots=True)
class Asked:
    """A question the next key answers: y does `action` ("purge" or "cancel") to `job`."""

    action: str
    job: JobInfo


@dataclass
class TopState:
    url: str
    overview: Overview | None = None
    running: list[RunningJob] = field(default_factory=list)
    failures: list[JobInfo] = field(default_factory=list)
    pane: str = "queues"  # one of PANES
    cursor: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PANES, 0))
    windows: dict[str, Window] = field(default_factory=lambda: {pane: Window() for pane in PANES})
    drawn: tuple[int, int | None] | None = None  # the panels' (width, lines) last drawn
    only: str | None = None  # the queue filter
    opened: JobInfo | None = None
    scroll: int = 0  # the first line of the opened job shown
    page: int = 10  # lines of the job view last drawn: what PgUp/PgDn move by
    last_scroll: int = 1 << 30  # the last first line there is, as last drawn
    message: str = ""
    pending: Asked | None = None  # what `x` or `c` asked, until the next key

    @property
    def queue_names(self) -> list[str]:
        names = sorted(self.overview.counts) if self.overview else []
        return [q for q in names if self.only in (None, q)]

    def rows(self) -> int:
        return len(self.queue_names) if self.pane == "queues" else len(self.listed())

    def listed(self) -> list[JobInfo]:
        """The jobs of the focused pane, as shown (none for the queues)."""
        if self.pane == "running":
            return [r.job for r in self.running]
        return self.failures if self.pane == "failures" else []

    def selected_queue(self) -> str | None:
        names = self.queue_names
        return names[min(self.cursor["queues"], len(names) - 1)] if names else None

    def selected_job(self) -> JobInfo | None:
        """The job under the cursor of the focused pane (running or failures)."""
        jobs = self.listed()
        return jobs[min(self.cursor[self.pane], len(jobs) - 1)] if jobs else None

    def running_total(self) -> int:
        """Running jobs of the queues shown, by the overview's counts."""
        counts = self.overview.counts if self.overview else {}
        return sum(counts[q].get(JobState.RUNNING, 0) for q in self.queue_names)


class TopScreen:
    """The state laid out to fill the console it is drawn on (its height, when drawn inside the
    Screen of `Live`, is `max_height`: rich resets `height` for what a renderable yields)."""

    def __init__(self, state: TopState) -> None:
        self.state = state

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[RenderableType]:
        height = options.height if options.height is not None else options.max_height
        yield layout(self.state, options.max_width, height)


def layout(state: TopState, width: int, height: int | None) -> RenderableType:
    if state.overview is None:
        return Text("loading…")
    rows = None if height is None else max(0, height - 2)
    state.drawn = (width, rows)
    body = job_view(state, width, rows) if state.opened else panels(state, state.overview, width, rows)
    parts: list[RenderableType] = [header(state, state.overview, width), *(part for part, _ in body)]
    free = 0 if rows is None else rows - sum(lines for _, lines in body)
    if free > 0:
        parts.append(Text("\n" * (free - 1)))
    parts.append(footer(state, width))
    return Group(*parts)


def header(state: TopState, overview: Overview, width: int) -> Text:
    busy, total = overview.slots
    at = when(overview.at)
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("taskheap top  ", style="bold").append(at if width >= WIDE else at[11:19])
    text.append(f"  workers {len(overview.workers)}  slots {busy}/{total} busy")
    if state.only:
        text.append(f"  filter: {state.only}", style="yellow")
    if state.message:
        text.append(f"  · {state.message}", style="cyan")
    # The URL goes last: a long file path must not push the live figures off a narrow screen.
    return text.append(f"  {state.url}", style="dim")


def footer(state: TopState, width: int) -> Text:
    if state.pending is not None:
        return Text(
            _fitting(_question(state.pending), width), style="bold red", no_wrap=True, overflow="ellipsis"
        )
    helps = HELP["job" if state.opened else "list"]
    return Text(_fitting(helps, width), style="dim", no_wrap=True, overflow="ellipsis")


def _question(asked: Asked) -> tuple[str, ...]:
    job, short, status = asked.job.id, short_id(asked.job.id), asked.job.status
    if asked.action == "purge":
        return (
            f"purge dead job {job} for good? y: purge, any other key: keep it",
            f"purge dead job {short} for good? y: purge, any other key: keep it",
            f"purge {short}? y/n",
        )
    keep = "let it run" if status == JobState.RUNNING else "keep it"
    return (
        f"cancel {status} job {job}? y: cancel it, any other key: {keep}",
        f"cancel {status} job {short}? y: cancel it, any other key: {keep}",
        f"cancel {short}? y/n",
    )


def _fitting(texts: Sequence[str], width: int) -> str:
    return next((t for t in texts if cell_len(t) <= width), texts[-1])


# -- the lists and panels -----------------------------------------------------------------
def panels(
    state: TopState, overview: Overview, width: int, rows: int | None
) -> list[tuple[RenderableType, int]]:
    wide = width >= WIDE
    depth = _depth(state, overview)
    lines = panel_lines(state, overview, width, rows)
    body: list[tuple[RenderableType, int]] = []
    if lines["queues"]:
        left = width * 3 // 5 if wide else width
        queues = _queues_panel(state, overview, left, lines["queues"])
        right = _priority_panel(depth, width - left, lines["queues"]) if wide else None
        body.append((_side_by_side(queues, right, left, width - left), lines["queues"]))
    if lines["running"]:
        body.append((_running_panel(state, overview.at, width, lines["running"]), lines["running"]))
    if lines["middle"]:
        half = width // 2 if width >= SPLIT else 0
        activity = _activity_panel(overview, half, lines["middle"]) if half else None
        workers = _workers_panel(overview, width - half, lines["middle"])
        body.append((_side_by_side(activity, workers, half, width - half), lines["middle"]))
    if lines["failures"]:
        body.append((_failures_panel(state, width, lines["failures"]), lines["failures"]))
    return body


def panel_lines(state: TopState, overview: Overview, width: int, rows: int | None) -> dict[str, int]:
    """The lines of each panel on a screen of `rows` lines for the panels (None: no limit)."""
    wants = {
        "queues": max(
            3 + max(1, len(state.queue_names)),
            2 + max(1, len(_depth(state, overview))) if width >= WIDE else 0,
        ),
        # By the count, not the jobs read: the read is sized by this (`running_room`).
        "running": 3 + max(1, min(FEED, state.running_total())),
        "failures": 3 + max(1, len(state.failures)),
        "middle": max(PANEL, 3 + max(1, len(overview.workers))),
    }
    return allot(rows, wants)


def running_room(state: TopState) -> int:
    """How many running jobs the next draw has rows for, by the size of the last one and the
    overview and failures just read: what a refresh reads. FEED before a first draw, and when
    drawn without a height limit (`--once`)."""
    if state.drawn is None or state.drawn[1] is None or state.overview is None:
        return FEED
    width, rows = state.drawn
    return max(0, panel_lines(state, state.overview, width, rows)["running"] - 3)


def allot(rows: int | None, wants: dict[str, int]) -> dict[str, int]:
    """Lines per panel, in the order of `wants` (its priority): with no limit, what each wants;
    else each gets PANEL lines while they last (a panel that cannot have them is left out),
    then one more line at a time, in turn, up to what each wants."""
    if rows is None:
        return dict(wants)
    given = dict.fromkeys(wants, 0)
    left = rows
    for name in wants:
        if left >= PANEL:
            given[name], left = PANEL, left - PANEL
    growing = [name for name in wants if given[name]]
    while left and any(given[n] < wants[n] for n in growing):
        for name in growing:
            if left and given[name] < wants[name]:
                given[name], left = given[name] + 1, left - 1
    return given


def _side_by_side(
    left: Panel | None, right: Panel | None, left_width: int, right_width: int
) -> RenderableType:
    if left is None or right is None:
        return left or right or Text()
    grid = Table.grid()
    grid.add_column(width=left_width)
    grid.add_column(width=right_width)
    grid.add_row(left, right)
    return grid


QUEUE_COLUMNS = (
    Column("queue", "queue", "queue", 0, cap=24),
    Column("paused", "paused", "paused", 2),
    Column("queued", "queued", "queued", 1, right=True),
    Column("scheduled", "scheduled", "sched", 7, right=True),
    Column("running", "running", "run", 3, right=True),
    Column("retrying", "retrying", "retry", 4, right=True),
    Column("succeeded", "succeeded", "done", 8, right=True),
    Column("dead", "dead", "dead", 5, right=True),
    Column("cancelled", "cancelled", "cancl", 9, right=True),
    Column("oldest", "oldest queued", "oldest", 6, right=True),
    Column("limits", "limits: running, starts", "limits", 10),
)


def _queues_panel(state: TopState, overview: Overview, width: int, lines: int) -> Panel:
    names = state.queue_names
    rows: list[Row] = []
    for queue in names:
        counts = overview.counts[queue]
        age = overview.oldest.get((queue, JobState.QUEUED))
        row: Row = {
            "queue": (queue, queue),
            "paused": ("yes", "yes") if queue in overview.paused else ("", ""),
        }
        row |= {str(s): (str(counts.get(s, 0)),) * 2 for s in ALL_STATES}
        row["oldest"] = ("-", "-") if age is None else (f"{age:.0f}s",) * 2
        load = overview.limits.get(queue)
        row["limits"] = (load.describe(), load.describe()) if load else ("", "")
        rows.append(row)
    shown = QUEUE_COLUMNS if overview.limits else QUEUE_COLUMNS[:-1]  # limits: when a queue has some
    columns, short = fit(shown, rows, width - 4)
    table = table_of(columns, short, rows)
    start = _add_window(
        state, "queues", table, len(rows), lines, lambda n: [rows[n][c.key][short] for c in columns]
    )
    content: RenderableType = table if rows else Text("(no queues)")
    return Panel(
        content, title=titled("queues", start, lines - 3, len(rows)), title_align="left", height=lines
    )


def _add_window(
    state: TopState,
    pane: str,
    table: Table,
    total: int,
    lines: int,
    cells: Callable[[int], Sequence[str | Text]],
) -> int:
    """The rows of `pane` its panel of `lines` has room for, around its cursor: the first one."""
    return add_window(
        table, state.windows[pane], state.cursor[pane], state.pane == pane, total, lines - 3, cells
    )


def _depth(state: TopState, overview: Overview) -> dict[int, int]:
    depth: dict[int, int] = {}
    for queue, by_priority in overview.by_priority.items():
        if state.only in (None, queue):
            for priority, n in by_priority.items():
                depth[priority] = depth.get(priority, 0) + n
    return depth


def _priority_panel(depth: dict[int, int], width: int, lines: int) -> Panel:
    table = Table.grid(padding=(0, 1))
    peak = max(depth.values(), default=0)
    shown = sorted(depth.items())[: max(1, lines - 2)]
    for priority, n in shown:
        table.add_row(f"P{priority}", f"{n:>6}", bar(n, peak, min(BAR_WIDTH, max(1, width - 16)), "cyan"))
    if not depth:
        table.add_row("(nothing queued)")
    return Panel(table, title="queued by priority", title_align="left", height=lines, width=width)


def _activity_panel(overview: Overview, width: int, lines: int) -> Panel:
    last = overview.activity[-1] if overview.activity else None
    figures = (
        ("done/min   ", [m.completed for m in overview.activity], last.completed if last else 0, "green"),
        ("failed/min ", [m.failed for m in overview.activity], last.failed if last else 0, "red"),
        ("cancel/min ", [m.cancelled for m in overview.activity], last.cancelled if last else 0, "yellow"),
    )
    text = Text(no_wrap=True, overflow="crop")
    for n, (label, values, now, style) in enumerate(figures):
        minutes = max(0, width - 4 - len(label) - len(f" {now}"))
        text.append(label).append(sparkline(values[-minutes:] if minutes else []), style=style).append(
            f" {now}"
        )
        if n < len(figures) - 1:
            text.append("\n")
    return Panel(text, title="last hour", title_align="left", height=lines, width=width)


def _workers_panel(overview: Overview, width: int, lines: int) -> Panel:
    rows = [(w["id"], w["jobs"], w["silent_for"]) for w in overview.workers]
    visible = lines - 3
    table = workers_table(rows[:visible])
    return Panel(
        table, title=titled("workers", 0, visible, len(rows)), title_align="left", height=lines, width=width
    )


RUNNING_COLUMNS = (
    Column("id", "id", "id", 3),
    Column("queue", "queue", "queue", 6, cap=16),
    Column("task", "task", "task", 2, cap=20),
    Column("worker", "worker", "worker", 5, cap=16),
    Column("for", "running for", "for", 1, right=True),
    Column("attempt", "attempt", "att", 4, right=True),
    Column("cancel", "cancel", "cancel", 0),  # only while a job listed has a request
    Column("progress", "progress", "progress", 0),
)
FAILURE_COLUMNS = (
    Column("id", "id", "id", 2),
    Column("state", "state", "state", 0),
    Column("queue", "queue", "queue", 5, cap=16),
    Column("task", "task", "task", 3, cap=20),
    Column("attempts", "attempts", "att", 4, right=True),
    Column("error", "error", "error", 1),
)


def _running_panel(state: TopState, now: float, width: int, lines: int) -> Panel:
    """The running jobs read (newest first), each with how long its attempt has run (by `now`,
    the overview's time) and its progress; a cancel column while one of them has a request."""
    progress = [progress_cell(r.job.progress) for r in state.running]
    rows: list[Row] = [
        {
            "id": (r.job.id, short_id(r.job.id)),
            "queue": (r.job.queue, r.job.queue),
            "task": (r.job.task, r.job.task),
            "worker": (r.job.worker or "-",) * 2,
            "for": (duration(None if r.job.started_at is None else now - r.job.started_at),) * 2,
            "attempt": (f"{r.job.attempts}/{r.job.retries + 1}",) * 2,
            "cancel": ("requested", "asked") if r.cancel_requested else ("", ""),
            "progress": (bar.plain, bar.plain),
        }
        for r, bar in zip(state.running, progress, strict=True)
    ]
    asked = any(r.cancel_requested for r in state.running)
    columns = [c for c in RUNNING_COLUMNS if asked or c.key != "cancel"]
    table, shown, short = job_table(columns, rows, "progress", width - 4)

    def cell(n: int, key: str) -> str | Text:
        if key == "progress":
            return progress[n]
        text = rows[n][key][short]
        return Text(text, style="bold yellow") if key == "cancel" else text

    def cells(n: int) -> list[str | Text]:
        return [cell(n, c.key) for c in shown]

    start = _add_window(state, "running", table, len(rows), lines, cells)
    title = titled("running, newest first", start, lines - 3, max(state.running_total(), len(rows)))
    return Panel(table if rows else Text("(nothing running)"), title=title, title_align="left", height=lines)


def progress_cell(progress: dict[str, Any] | None) -> Text:
    """A bar and its percent where the total is known, else the count; then the message."""
    if progress is None:
        return Text("-", style="dim")
    current, total, message = progress.get("current"), progress.get("total"), progress.get("message")
    text = Text()
    if not isinstance(current, int | float):
        text.append("?")
    elif isinstance(total, int | float) and total > 0:
        filled = min(PROGRESS_BAR, int(PROGRESS_BAR * current / total))  # full only when done
        text.append("█" * filled, style="green").append("░" * (PROGRESS_BAR - filled), style="dim")
        text.append(f" {100 * current / total:3.0f}%")
    else:
        text.append(f"{current:g}")
    return text.append(f" {message}") if message else text


def _failures_panel(state: TopState, width: int, lines: int) -> Panel:
    rows: list[Row] = [
        {
            "id": (job.id, short_id(job.id)),
            "state": (job.status, job.status),
            "queue": (job.queue, job.queue),
            "task": (job.task, job.task),
            "attempts": (str(job.attempts),) * 2,
            "error": (job.error or "",) * 2,
        }
        for job in state.failures
    ]

    table, shown, short = job_table(FAILURE_COLUMNS, rows, "error", width - 4)

    def cells(n: int) -> list[str | Text]:
        job = state.failures[n]
        status = Text(job.status, style="red" if job.status == JobState.DEAD else "yellow")
        return [status if c.key == "state" else rows[n][c.key][short] for c in shown]

    start = _add_window(state, "failures", table, len(rows), lines, cells)
    title = titled("recent failures (dead and retrying)", start, lines - 3, len(rows))
    return Panel(table if rows else Text("(no failures)"), title=title, title_align="left", height=lines)


# -- the job view ---------------------------------------------------------------------------
def job_view(state: TopState, width: int, rows: int | None) -> list[tuple[RenderableType, int]]:
    """The opened job: its exception line pinned on top, then all of it in a panel that scrolls."""
    job = state.opened
    assert job is not None
    lines = [
        piece for line in render_job(job).expandtabs().splitlines() for piece in _wrapped(line, width - 4)
    ]
    visible = len(lines) if rows is None else max(1, rows - 3)
    state.page, state.last_scroll = visible, max(0, len(lines) - visible)
    state.scroll = start = min(state.scroll, state.last_scroll)
    shown = lines[start : start + visible]
    summary = f"{job.status}: {job.error}" if job.error else f"{job.status}, attempts {job.attempts}"
    pinned = Text(summary, style="bold red" if job.error else "bold", no_wrap=True, overflow="ellipsis")
    where = "" if len(lines) <= visible else f"  lines {start + 1}-{start + len(shown)} of {len(lines)}"
    title = f"job {job.id}{where} (esc to close)"
    body = Text("\n".join(shown), no_wrap=True, overflow="crop")
    return [
        (pinned, 1),
        (Panel(body, title=title, title_align="left", height=len(shown) + 2), len(shown) + 2),
    ]


def _wrapped(line: str, width: int) -> list[str]:
    return chop_cells(line, max(1, width)) if cell_len(line) > width else [line]
