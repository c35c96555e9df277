"""`taskheap demo`: the real command end to end, and its view and summary on fixed data."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from taskheap.demo.run import summarize
from taskheap.demo.view import Snapshot, Throughput, WorkerRow, progress_line, render
from taskheap.job import JobInfo, JobState

JOBS = 100


def test_demo_runs_urgent_jobs_sooner_than_fifo_and_sums_up(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "taskheap", "demo", "--plain", "--jobs", str(JOBS)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^t=[\d.]+s done=\d+ retrying=\d+ dead=\d+ queued=\d+ running=\d+", out, re.M)
    done, retried, dead = (int(_field(out, rf"^\s+{name}\s+(\d+)")) for name in ("done", "retried", "dead"))
    assert done + dead == JOBS
    assert retried > dead > 0
    urgent_wait = float(_field(out, r"mean wait of P1-P3 jobs: ([\d.]+) s"))
    fifo_wait = float(_field(out, r"under FIFO it would have been ([\d.]+) s"))
    assert urgent_wait < fifo_wait
    database = Path(_field(out, r" slots on sqlite:///(.+)$"))
    assert not database.parent.exists()
    assert not list(tmp_path.iterdir())


def _field(text: str, pattern: str) -> str:
    match = re.search(pattern, text, re.M)
    assert match, f"{pattern!r} not in:\n{text}"
    return match.group(1)


SNAPSHOT = Snapshot(
    elapsed=3.14,
    states={JobState.SUCCEEDED: 87, JobState.RETRYING: 5, JobState.DEAD: 1, JobState.QUEUED: 24},
    depth={1: 0, 2: 4, 10: 20},
    peak_depth=20,
    workers=(
        WorkerRow("host:4242:abcdef", ("01J0000000000000000000AAAA", "01J0000000000000000000BBBB"), 0.4),
    ),
    throughput=31.2,
)


def test_view_shows_counters_workers_and_depth_bars() -> None:
    console = Console(record=True, width=100)
    console.print(render(SNAPSHOT))
    text = console.export_text()

    assert "done 87" in text and "retrying 5" in text and "dead 1" in text and "31 jobs/s" in text
    assert "host:4242:abcdef" in text and "00AAAA 00BBBB" in text and "0.4s ago" in text
    bars = {priority: len(bar) for priority, bar in re.findall(r"(P\d+) +\d+ (█*)", text)}
    assert bars == {"P1": 0, "P2": 4, "P10": 20}


def test_progress_line_is_one_plain_line() -> None:
    assert progress_line(SNAPSHOT) == "t=3.1s done=87 retrying=5 dead=1 queued=24 running=0 throughput=31/s"


def test_throughput_counts_over_the_recent_window() -> None:
    throughput = Throughput(window=2.0)
    assert throughput.update(1.0, 10) == 10.0
    assert throughput.update(2.0, 30) == 15.0
    assert throughput.update(4.0, 40) == 5.0


def _job(n: int, priority: int, enqueued: float, started: float, attempts: int = 1) -> JobInfo:
    return JobInfo(
        id=f"{n:026d}",
        task="t",
        queue="default",
        priority=priority,
        status=JobState.SUCCEEDED if attempts < 3 else JobState.DEAD,
        attempts=attempts,
        enqueued_at=enqueued,
        started_at=started,
        finished_at=started + 1,
        error=None,
        worker=None,
        args=[],
        kwargs={},
        retries=2,
        run_at=None,
        result=None,
        traceback=None,
    )


def test_summary_compares_urgent_waits_with_fifo_order_of_the_same_starts() -> None:
    jobs = [
        _job(0, priority=9, enqueued=0.0, started=3.0, attempts=2),
        _job(1, priority=5, enqueued=0.0, started=2.0),
        _job(2, priority=1, enqueued=0.0, started=1.0, attempts=3),
    ]

    summary = summarize(list(reversed(jobs)))

    assert (summary.total, summary.done, summary.retried, summary.dead) == (3, 2, 2, 1)
    assert summary.elapsed == 4.0
    assert summary.urgent_wait == 1.0
    assert summary.fifo_urgent_wait == 3.0
