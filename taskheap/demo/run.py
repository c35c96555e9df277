"""run_demo: enqueue a mixed batch on SQLite in a temp dir, run real workers, show and sum up.

Workers are `taskheap worker --burst` subprocesses: they exit by themselves once no job is
active. Their stderr goes to a log beside the database, so it cannot garble the live view; the
logs of workers that failed are echoed at the end. The database is kept, and the demo ends with
the commands that explore it.
"""

from __future__ import annotations

import importlib.util
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from types import FrameType

import click
from rich.console import Console
from rich.live import Live

from ..app import App
from ..job import JobInfo, JobState
from ..task import JobSpec
from . import tasks
from .view import URGENT, Monitor, finished_after, progress_line, render

SEED = 7
PRIORITIES = range(1, 11)
DURATION_MS = (50, 350)
SLOTS_PER_WORKER = 2
REFRESH_EVERY = 0.25
PROGRESS_EVERY = 1.0
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def run_demo(job_count: int = 200, worker_count: int = 4, plain: bool = False) -> None:
    console = Console()
    live_console = console if console.is_terminal and not plain else None
    workdir = Path(tempfile.mkdtemp(prefix="taskheap-demo-"))
    url = f"sqlite:///{workdir / 'demo.db'}"
    app = App(url)
    try:
        with _exit_on(STOP_SIGNALS), tempfile.TemporaryDirectory(dir=workdir) as markers:
            specs = demo_jobs(job_count, Path(markers))
            click.echo(_intro(specs, worker_count, url))
            started = time.time()
            app.enqueue_many(specs)
            _run_workers(app, worker_count, workdir, live_console, started)
            _check_finished(app)
            summary = summarize(app.admin.jobs(limit=job_count), started)
        click.echo(summary.text())
    finally:
        app.close()
        click.echo(explore_text(url, workdir))


@contextmanager
def _exit_on(signals: Sequence[signal.Signals]) -> Iterator[None]:
    """Turn these signals into SystemExit, so the cleanup runs as it does on Ctrl-C."""

    def exit_now(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {signum: signal.signal(signum, exit_now) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def demo_jobs(count: int, markers: Path, seed: int = SEED) -> list[JobSpec]:
    """`count` jobs spread over the priorities: ~2% always fail, ~20% fail their first attempt.
    The order is shuffled, and the same on every run."""
    rng = random.Random(seed)
    doomed, flaky = max(1, count // 50), count // 5
    specs: list[JobSpec] = []
    for n in range(count):
        priority, ms = PRIORITIES[n % len(PRIORITIES)], rng.randint(*DURATION_MS)
        if n < doomed:
            specs.append(tasks.doomed.options(priority=priority).job(ms))
        elif n < doomed + flaky:
            marker = str(markers / f"job-{n}.failed-once")
            specs.append(tasks.flaky.options(priority=priority).job(ms, marker))
        else:
            specs.append(tasks.work.options(priority=priority).job(ms))
    rng.shuffle(specs)
    return specs


def _intro(specs: Sequence[JobSpec], worker_count: int, url: str) -> str:
    flaky = sum(spec.task == tasks.flaky.name for spec in specs)
    doomed = sum(spec.task == tasks.doomed.name for spec in specs)
    return (
        f"taskheap demo: {len(specs)} jobs at priorities {PRIORITIES[0]}-{PRIORITIES[-1]},"
        f" {flaky} fail once, {doomed} always fail\n{worker_count} worker(s) x {SLOTS_PER_WORKER}"
        f" slots on {url}"
    )


def _run_workers(app: App, count: int, workdir: Path, console: Console | None, started: float) -> None:
    """Start the workers, show progress until they all exit, kill them if interrupted."""
    monitor = Monitor(app.admin, PRIORITIES, started)
    workers = [_start_worker(app.url, workdir / f"worker-{n}.log") for n in range(count)]
    try:
        if console is not None:
            _watch_live(monitor, workers, console)
        else:
            _watch_plain(monitor, workers)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    _report_workers(workers, workdir)


def _start_worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "taskheap", "-A", f"{tasks.__name__}:app", "worker"]
    command += ["--concurrency", str(SLOTS_PER_WORKER), "--burst"]
    with log.open("wb") as stderr:
        return subprocess.Popen(
            command, env={**os.environ, "TASKHEAP_URL": url}, stdout=subprocess.DEVNULL, stderr=stderr
        )


def _watch_live(monitor: Monitor, workers: Sequence[subprocess.Popen[bytes]], console: Console) -> None:
    with Live(render(monitor.snapshot()), console=console, auto_refresh=False) as live:
        while not _all_exited(workers, REFRESH_EVERY):
            live.update(render(monitor.snapshot()), refresh=True)
        live.update(render(monitor.snapshot()), refresh=True)


def _watch_plain(monitor: Monitor, workers: Sequence[subprocess.Popen[bytes]]) -> None:
    while not _all_exited(workers, PROGRESS_EVERY):
        click.echo(progress_line(monitor.snapshot()))
    click.echo(progress_line(monitor.snapshot()))


def _all_exited(workers: Sequence[subprocess.Popen[bytes]], timeout: float) -> bool:
    """Wait up to `timeout` seconds for every worker to exit; True if they all did."""
    try:
        for worker in workers:
            worker.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def _check_finished(app: App) -> None:
    unfinished = app.admin.active_count()
    if unfinished:
        raise click.ClickException(f"the workers exited with {unfinished} job(s) unfinished")


def _report_workers(workers: Sequence[subprocess.Popen[bytes]], workdir: Path) -> None:
    failed = [(n, w) for n, w in enumerate(workers) if w.returncode != 0]
    for n, worker in failed:
        log = (workdir / f"worker-{n}.log").read_text(errors="replace").strip()
        click.echo(f"worker {n} (pid {worker.pid}) exited with {worker.returncode}:\n{log}", err=True)
    if failed:
        codes = ", ".join(str(w.returncode) for _, w in failed)
        raise click.ClickException(f"{len(failed)} worker(s) failed, exit codes {codes}")


def explore_text(url: str, workdir: Path) -> str:
    """Where the database stayed, and the commands that look into it."""
    base = f"{_taskheap_command()} --url {shlex.quote(url)}"
    dashboard = "then open http://127.0.0.1:8000"
    if importlib.util.find_spec("uvicorn") is None:
        dashboard = "needs: pip install 'taskheap[dashboard]'"
    commands = [
        ("top", "live terminal view; q quits"),
        ("dlq list", "the dead letters"),
        ("dashboard", f"web dashboard; {dashboard}"),
    ]
    lines = [f"The database is kept in {workdir} (worker logs beside it). Explore it:"]
    lines += [f"  {base} {command:<9}  # {what}" for command, what in commands]
    return "\n".join(lines)


def _taskheap_command() -> str:
    """How the user's shell runs this taskheap: `taskheap` when that is the one on PATH, else
    this environment's script by its full path (`./dev demo` runs .venv's, not on PATH)."""
    script = Path(sys.executable).parent / "taskheap"
    if not script.exists():
        return f"{shlex.quote(sys.executable)} -m taskheap"
    on_path = shutil.which("taskheap")
    if on_path is not None and Path(on_path).samefile(script):
        return "taskheap"
    return shlex.quote(str(script))


@dataclass(frozen=True, slots=True)
class Summary:
    total: int
    done: int
    retried: int
    dead: int
    elapsed: float
    urgent_wait: float
    fifo_urgent_wait: float

    def text(self) -> str:
        urgent = f"P{URGENT[0]}-P{URGENT[-1]}"
        speedup = self.fifo_urgent_wait / self.urgent_wait if self.urgent_wait > 0 else float("inf")
        return "\n".join(
            [
                f"{self.total} jobs finished in {self.elapsed:.1f} s:",
                f"  done     {self.done:>5}",
                f"  retried  {self.retried:>5}  (needed more than one attempt)",
                f"  dead     {self.dead:>5}  (failed every attempt)",
                f"  mean wait of {urgent} jobs: {self.urgent_wait:.2f} s;"
                f" under FIFO it would have been {self.fifo_urgent_wait:.2f} s ({speedup:.1f} times longer)",
            ]
        )


def summarize(jobs: Sequence[JobInfo], started: float) -> Summary:
    """Counts, the time from `started` to the last finish, and the mean wait (first start -
    enqueue) of urgent jobs against FIFO: the same start times handed out in enqueue (id) order."""
    runs = sorted(((j, j.started_at) for j in jobs if j.started_at is not None), key=lambda r: r[0].id)
    fifo_starts = sorted(start for _, start in runs)
    urgent = [
        (job.enqueued_at, start, fifo_start)
        for (job, start), fifo_start in zip(runs, fifo_starts, strict=True)
        if job.priority in URGENT
    ]
    return Summary(
        total=len(jobs),
        done=sum(j.status == JobState.SUCCEEDED for j in jobs),
        retried=sum(j.attempts > 1 for j in jobs),
        dead=sum(j.status == JobState.DEAD for j in jobs),
        elapsed=finished_after(jobs, started),
        urgent_wait=fmean(start - enqueued for enqueued, start, _ in urgent),
        fifo_urgent_wait=fmean(fifo_start - enqueued for enqueued, _, fifo_start in urgent),
    )
