"""The lists of `taskheap top` (queues, running jobs, failures): columns that abbreviate, then
drop by priority, when the width is short, and the window of rows that holds the cursor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

STRETCH_AT_LEAST = 16  # cells a job list's last column (error, progress) keeps before others drop
STRETCH_ROOMY = 40  # cells of it the full forms (whole ids) must leave room for


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


def table_of(columns: list[Column], short: bool, rows: Sequence[Row], stretch: str | None = None) -> Table:
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


def job_table(
    columns: Sequence[Column], rows: Sequence[Row], stretch: str, width: int
) -> tuple[Table, list[Column], bool]:
    """The table of a job list whose `stretch` column takes the width the others leave: the
    table, the columns it shows and whether in short form."""
    fixed = [c for c in columns if c.key != stretch]
    roomy = min(STRETCH_ROOMY, max((cell_len(r[stretch][0]) for r in rows), default=0))
    kept, short = fit(fixed, rows, width, spare=STRETCH_AT_LEAST, roomy=roomy)
    shown = [c for c in columns if c in kept or c.key == stretch]
    return table_of(shown, short, rows, stretch=stretch), shown, short


def add_window(
    table: Table,
    window: Window,
    cursor: int,
    focused: bool,
    total: int,
    visible: int,
    cells: Callable[[int], Sequence[str | Text]],
) -> int:
    """Add to `table` the `visible` rows of `total` that hold `cursor` (reversed while its pane
    has the focus), row n's cells being `cells(n)`; returns the first row shown."""
    start = window.follow(cursor, visible, total)
    for n in range(start, min(total, start + visible)):
        table.add_row(*cells(n), style="reverse" if focused and n == cursor else "")
    return start


def titled(title: str, start: int, visible: int, total: int) -> str:
    if total <= visible:
        return title
    return f"{title} {start + 1}-{min(total, start + visible)} of {total}"
