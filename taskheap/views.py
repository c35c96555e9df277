"""Renderings of admin data shared by the CLI, the demo and `taskheap top`: plain text, and a
few rich widgets (workers table, bars, sparklines)."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from .job import ALL_STATES, FailedAttempt, JobInfo

SHORT_ID = 6
SPARKS = " ▁▂▃▄▅▆▇█"


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def duration(seconds: float | None) -> str:
    """`850 ms`, `4.20 s`, `3m 05s`, `2h 07m`, `3d 4h`."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours < 1:
        return f"{minutes}m {secs:02d}s"
    days, hours = divmod(hours, 24)
    return f"{hours}h {minutes:02d}m" if days < 1 else f"{days}d {hours}h"


def render_status(stats: Mapping[str, Any]) -> str:
    header = f"{'queue':<16}" + "".join(f"{s:>11}" for s in ALL_STATES)
    lines = [header]
    for queue, counts in stats["queues"].items():
        lines.append(f"{queue:<16}" + "".join(f"{counts.get(s, 0):>11}" for s in ALL_STATES))
    if len(lines) == 1:
        lines.append("(no jobs)")
    if stats.get("paused"):
        lines.append(f"paused: {', '.join(stats['paused'])}")
    lines.append("")
    workers = stats["workers"]
    lines.append(f"{len(workers)} worker(s)")
    for w in workers:
        lost = "  LOST (missed its heartbeats: its jobs go to other workers)" if w["lost"] else ""
        lines.append(
            f"  {w['id']}  queues={','.join(w['queues'])}  concurrency={w['concurrency']}"
            f"  running={len(w['jobs'])}  done/min={w['per_minute']}  last heartbeat"
            f" {w['silent_for']:.1f}s ago{lost}"
        )
    for warning in stats.get("warnings", []):
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def render_job_table(jobs: Iterable[JobInfo]) -> str:
    lines = [f"{'id':<26}  {'status':<9}  {'pri':>4}  {'att':>3}  {'queue':<10}  task / error"]
    for j in jobs:
        detail = j.task + (f"  ({j.error})" if j.error else "")
        lines.append(f"{j.id:<26}  {j.status:<9}  {j.priority:>4}  {j.attempts:>3}  {j.queue:<10}  {detail}")
    return "\n".join(lines)


def render_job(job: JobInfo) -> str:
    fields = [
        ("id", job.id),
        ("task", job.task),
        ("queue", job.queue),
        ("priority", job.priority),
        ("status", job.status),
        ("attempts", f"{job.attempts} of {job.retries + 1}"),
        ("args", json.dumps(job.args)),
        ("kwargs", json.dumps(job.kwargs)),
        ("enqueued", when(job.enqueued_at)),
        ("due", when(job.run_at)),
        ("started", when(job.started_at)),
        ("finished", when(job.finished_at)),
        ("worker", job.worker or "-"),
        ("result", json.dumps(job.result)),
        ("error", job.error or "-"),
    ]
    if job.headers:
        fields.insert(8, ("headers", json.dumps(job.headers)))
    if job.unique_key is not None:
        fields.insert(4, ("unique", job.unique_key))
    if job.progress is not None:
        fields.append(("progress", progress_text(job.progress)))
    text = "\n".join(f"{name:>9}: {value}" for name, value in fields)
    if job.failed_attempts:
        text += "\n" + render_failed_attempts(job.failed_attempts)
    elif job.traceback:
        text += "\ntraceback:\n" + job.traceback.rstrip()
    return text


def progress_text(progress: dict[str, Any]) -> str:
    """ "30/100 (30%) pages, 12:00:01", or the parts of it the report has."""
    current, total, message = progress.get("current"), progress.get("total"), progress.get("message")
    text = f"{current:g}" if isinstance(current, int | float) else "?"
    if isinstance(total, int | float) and total:
        text += f"/{total:g} ({100 * current / total:.0f}%)" if isinstance(current, int | float) else ""
    if message:
        text += f" {message}"
    updated = progress.get("updated_at")
    return text + (f", {when(updated)}" if isinstance(updated, int | float) else "")


def render_failed_attempts(attempts: Sequence[FailedAttempt]) -> str:
    """Each failed attempt, oldest first: number, time, worker and error, then its traceback."""
    lines = [f"failed attempts ({len(attempts)}, oldest first):"]
    for a in attempts:
        lines.append(f"  #{a.attempt}  {when(a.finished_at)}  {a.worker or '-'}  {a.error}")
        lines.extend(f"      {line}" for line in (a.traceback or "").rstrip().splitlines())
    return "\n".join(lines)


def short_id(job_id: str) -> str:
    return job_id[-SHORT_ID:]


def workers_table(workers: Iterable[tuple[str, Sequence[str], float]]) -> Table:
    """(worker id, its current job ids, heartbeat age in seconds) rows."""
    table = Table(box=None, padding=(0, 1))
    for header in ("worker", "current jobs", "heartbeat"):
        table.add_column(header, no_wrap=True, overflow="ellipsis")
    for worker, jobs, age in workers:
        table.add_row(worker, " ".join(short_id(j) for j in jobs) or "-", f"{age:.1f}s ago")
    if not table.row_count:
        table.add_row("(none)", "", "")
    return table


def bar(n: int, peak: int, width: int, style: str) -> Text:
    """`n` of `peak` as up to `width` blocks; any non-zero count shows at least one."""
    cells = max(1, round(width * n / peak)) if n and peak else 0
    return Text("█" * cells, style=style)


def sparkline(values: Sequence[float]) -> str:
    """One character per value, scaled to the largest (all blank when every value is 0)."""
    peak = max(values, default=0)
    if peak <= 0:
        return " " * len(values)
    return "".join(SPARKS[math.ceil(v / peak * (len(SPARKS) - 1))] for v in values)
