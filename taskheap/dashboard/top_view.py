"""What `taskheap top` shows, laid out for the screen it has.

`TopState` is everything on screen (the last overview and failures, the cursor, what is open);
`TopScreen(state)` is a rich renderable that fits itself to the console it is drawn on:
the header and the key help always take one line each; the panels share the rest by priority
(queues, then failures, then workers and activity), each showing the window of its rows that
holds its cursor; columns abbreviate, then drop, by priority when the width is short.
`layout(state, width, None)` shows every row instead (`top --once`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from rich.cells import cell_len, chop_cells
from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..admin import Overview
from ..job import ALL_STATES, JobInfo, JobState
from ..views import bar, render_job, short_id, sparkline, when, workers_table

WIDE = 100  # columns from which the priority panel sits beside the queues
SPLIT = 80  # columns from which the activity panel sits beside the workers (below: not shown)
PANEL = 4  # the fewest lines of a panel: its borders, a header row and one row
BAR_WIDTH = 16
HELP = {
    "list": (
        "↑↓ move  tab queues/failures  enter open  r retry  x purge  p pause/resume  f filter  q quit",
        "↑↓ move  tab pane  ⏎ open  r retry  x purge  p pause  f filter  q quit",
        "↑↓ tab ⏎ r x p f q",
    ),
    "job": (
        "↑↓ scroll  PgUp/PgDn page  esc back  r retry  x purge  q quit",
        "↑↓ PgUp/PgDn esc r x q",
    ),
}


@dataclass
class Window:
    """The first row shown of a list that scrolls to keep its cursor in view."""

    start: int = 0

    def follow(self, cursor: int, rows: int, total: int) -> int:
        if cursor < self.start:
            self.start = cursor
        elif cursor >= self.start + rows:
            self.start = cursor - rows + 1
        self.start = max(0, min(self.start, total - rows))
        return self.start


@dataclass
class TopState:
    url: str
    overview: Overview | None = None
    failures: list[JobInfo] = field(default_factory=list)
    pane: str = "queues"  # or "failures"
    cursor: dict[str, int] = field(default_factory=lambda: {"queues": 0, "failures": 0})
    windows: dict[str, Window] = field(default_factory=lambda: {"queues": Window(), "failures": Window()})
    only: str | None = None  # the queue filter
    opened: JobInfo | None = None
    scroll: int = 0  # the first line of the opened job shown
    page: int = 10  # lines of the job view last drawn: what PgUp/PgDn move by
    last_scroll: int = 1 << 30  # the last first line there is, as last drawn
    message: str = ""
    pending: JobInfo | None = None  # the dead job `x` asked to purge, until the next key

    @property
    def queue_names(self) -> list[str]:
        names = sorted(self.overview.counts) if self.overview else []
        return [q for q in names if self.only in (None, q)]

    def rows(self) -> int:
        return len(self.queue_names) if self.pane == "queues" else len(self.failures)

    def selected_queue(self) -> str | None:
        names = self.queue_names
        return names[min(self.cursor["queues"], len(names) - 1)] if names else None

    def selected_job(self) -> JobInfo | None:
        if not self.failures:
            return None
        return self.failures[min(self.cursor["failures"], len(self.failures) - 1)]


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
        job, short = state.pending.id, short_id(state.pending.id)
        asks = (
            f"purge dead job {job} for good? y: purge, any other key: keep it",
            f"purge dead job {short} for good? y: purge, any other key: keep it",
            f"purge {short}? y/n",
        )
        return Text(_fitting(asks, width), style="bold red", no_wrap=True, overflow="ellipsis")
    helps = HELP["job" if state.opened else "list"]
    return Text(_fitting(helps, width), style="dim", no_wrap=True, overflow="ellipsis")


def _fitting(texts: Sequence[str], width: int) -> str:
    return next((t for t in texts if cell_len(t) <= width), texts[-1])


# -- the lists and panels -----------------------------------------------------------------
def panels(
    state: TopState, overview: Overview, width: int, rows: int | None
) -> list[tuple[RenderableType, int]]:
    wide = width >= WIDE
    depth = _depth(state, overview)
    wants = {
        "queues": max(3 + max(1, len(state.queue_names)), 2 + max(1, len(depth)) if wide else 0),
        "failures": 3 + max(1, len(state.failures)),
        "middle": max(PANEL, 3 + max(1, len(overview.workers))),
    }
    lines = allot(rows, wants)
    body: list[tuple[RenderableType, int]] = []
    if lines["queues"]:
        left = width * 3 // 5 if wide else width
        queues = _queues_panel(state, overview, left, lines["queues"])
        right = _priority_panel(depth, width - left, lines["queues"]) if wide else None
        body.append((_side_by_side(queues, right, left, width - left), lines["queues"]))
    if lines["middle"]:
        half = width // 2 if width >= SPLIT else 0
        activity = _activity_panel(overview, half, lines["middle"]) if half else None
        workers = _workers_panel(overview, width - half, lines["middle"])
        body.append((_side_by_side(activity, workers, half, width - half), lines["middle"]))
    if lines["failures"]:
        body.append((_failures_panel(state, width, lines["failures"]), lines["failures"]))
    return body


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


@dataclass(frozen=True, slots=True)
class Column:
    """A list column: its header in full and short, and its rank (0 is dropped last)."""

    key: str
    header: str
    short: str
    rank: int
    cap: int = 0  # the widest it gets (0: its widest cell); a longer cell ends in an ellipsis
    right: bool = False


# A cell is (in full, short): the short form is used once the headers are short.
Row = dict[str, tuple[str, str]]


def fit(
    columns: Sequence[Column], rows: Sequence[Row], width: int, spare: int = 0, roomy: int = 0
) -> tuple[list[Column], bool]:
    """The columns that fit `width` with `spare` cells left over (for a stretching column),
    and whether in short form: every column in full (if `roomy` cells are left over, when
    given), else every column short, else short with the columns of the lowest priority
    dropped one by one."""

    def cost(kept: Sequence[Column], short: bool, left: int = spare) -> int:
        widths = [_width(c, rows, short) for c in kept]
        return sum(widths) + 2 * max(0, len(kept) - 1) + (left + 2 if left else 0)

    if cost(columns, False, max(spare, roomy)) <= width:
        return list(columns), False
    if cost(columns, True) <= width:
        return list(columns), True
    by_rank = sorted(columns, key=lambda c: c.rank)
    for keep in range(len(by_rank) - 1, 0, -1):
        kept = [c for c in columns if c in by_rank[:keep]]
        if cost(kept, True) <= width:
            return kept, True
    return [by_rank[0]], True


def _width(column: Column, rows: Sequence[Row], short: bool) -> int:
    header = column.short if short else column.header
    widest = max([cell_len(header), *(cell_len(r[column.key][short]) for r in rows)])
    return min(widest, max(column.cap, cell_len(header))) if column.cap else widest


def _table(columns: list[Column], short: bool, rows: Sequence[Row], stretch: str | None = None) -> Table:
    table = Table(box=None, padding=(0, 1), pad_edge=False, expand=stretch is not None)
    for c in columns:
        width = None if c.key == stretch else _width(c, rows, short)
        ratio = 1 if c.key == stretch else None
        table.add_column(
            c.short if short else c.header,
            justify="right" if c.right else "left",
            no_wrap=True,
            width=width,
            ratio=ratio,
            overflow="ellipsis",
        )
    return table


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
    table = _table(columns, short, rows)
    visible = lines - 3
    start = state.windows["queues"].follow(state.cursor["queues"], visible, len(rows))
    for n in range(start, min(len(rows), start + visible)):
        style = "reverse" if state.pane == "queues" and n == state.cursor["queues"] else ""
        table.add_row(*(rows[n][c.key][short] for c in columns), style=style)
    content: RenderableType = table if rows else Text("(no queues)")
    return Panel(
        content, title=_titled("queues", start, visible, len(rows)), title_align="left", height=lines
    )


def _titled(title: str, start: int, visible: int, total: int) -> str:
    if total <= visible:
        return title
    return f"{title} {start + 1}-{min(total, start + visible)} of {total}"


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
        table, title=_titled("workers", 0, visible, len(rows)), title_align="left", height=lines, width=width
    )


FAILURE_COLUMNS = (
    Column("id", "id", "id", 2),
    Column("state", "state", "state", 0),
    Column("queue", "queue", "queue", 5, cap=16),
    Column("task", "task", "task", 3, cap=20),
    Column("attempts", "attempts", "att", 4, right=True),
    Column("error", "error", "error", 1),
)
ERROR_AT_LEAST = 16  # cells the error column keeps before other columns drop
ERROR_ROOMY = 40  # cells of error the full forms (whole ids) must leave room for


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
    fixed = [c for c in FAILURE_COLUMNS if c.key != "error"]
    roomy = min(ERROR_ROOMY, max((cell_len(job.error or "") for job in state.failures), default=0))
    kept, short = fit(fixed, rows, width - 4, spare=ERROR_AT_LEAST, roomy=roomy)
    columns = [c for c in FAILURE_COLUMNS if c in kept or c.key == "error"]
    table = _table(columns, short, rows, stretch="error")
    visible = lines - 3
    start = state.windows["failures"].follow(state.cursor["failures"], visible, len(rows))
    for n in range(start, min(len(rows), start + visible)):
        job = state.failures[n]
        style = "reverse" if state.pane == "failures" and n == state.cursor["failures"] else ""
        cells: list[str | Text] = [rows[n][c.key][short] for c in columns]
        cells[columns.index(FAILURE_COLUMNS[1])] = Text(
            job.status, style="red" if job.status == JobState.DEAD else "yellow"
        )
        table.add_row(*cells, style=style)
    title = _titled("recent failures (dead and retrying)", start, visible, len(rows))
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
