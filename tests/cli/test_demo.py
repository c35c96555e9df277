"""`taskheap demo`: the real command end to end, and its view and summary on fixed data."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from build import ProjectBuilder
from build.env import DefaultIsolatedEnv
from pyproject_hooks import quiet_subprocess_runner
from rich.console import Console

from taskheap.demo.run import explore_text, summarize
from taskheap.demo.view import Snapshot, Throughput, WorkerRow, progress_line, render
from taskheap.job import JobInfo, JobState
from tests.conftest import wait_for
from tests.ports import free_port

JOBS = 100
VENV_BIN = Path(sys.executable).parent
REPO = Path(__file__).parents[2]


def test_demo_runs_urgent_jobs_sooner_than_fifo_sums_up_and_keeps_its_database(tmp_path: Path) -> None:
    cwd, temp = tmp_path / "cwd", tmp_path / "temp"
    cwd.mkdir(), temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [sys.executable, "-m", "taskheap", "demo", "--plain", "--jobs", str(JOBS)],
        cwd=cwd,
        env=env,
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
    clock = [float(t) for t in re.findall(r"^t=([\d.]+)s ", out, re.M)]
    assert clock == sorted(clock)
    assert f"{clock[-1]:.1f}" == _field(out, rf"^{JOBS} jobs finished in ([\d.]+) s:")
    database = Path(_field(out, r" slots on sqlite:///(.+)$"))
    assert database.is_file() and database.parent.parent == temp
    assert not list(cwd.iterdir())

    commands = dict(re.findall(r"^  (taskheap --url \S+ (top|dlq list|dashboard)) +# ", out, re.M))
    assert sorted(commands.values()) == ["dashboard", "dlq list", "top"]
    explore = {name: shlex.split(command) for command, name in commands.items()}
    assert all(argv[2] == f"sqlite:///{database}" for argv in explore.values())
    dead_ids = _dead_ids(_run(explore["dlq list"], env))
    assert len(dead_ids) == dead
    top = _run([*explore["top"], "--once"], env)
    assert all(job_id in top for job_id in dead_ids)
    with _serving([*explore["dashboard"], "--port", str(port := free_port())], env):
        metrics = _get(f"http://127.0.0.1:{port}/metrics")
    assert f'taskheap_queue_depth{{queue="default",state="dead"}} {dead}.0' in metrics
    assert f'taskheap_queue_depth{{queue="default",state="succeeded"}} {done}.0' in metrics


def test_the_explore_commands_name_this_environments_script_when_another_is_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no taskheap there

    text = explore_text("sqlite:////tmp/x y/demo.db", Path("/tmp/x y"))

    script = shlex.quote(str(VENV_BIN / "taskheap"))
    assert f"  {script} --url 'sqlite:////tmp/x y/demo.db' top " in text
    assert "kept in /tmp/x y" in text


def test_the_editable_install_of_dev_demo_warns_of_nothing(tmp_path: Path) -> None:
    """pip shows what the build backend warns (setuptools boxed a warning about the import hook
    it used for a layout it had to guess); `./dev demo` starts with this install."""
    with DefaultIsolatedEnv() as env:
        builder = ProjectBuilder.from_isolated_env(env, REPO, runner=quiet_subprocess_runner)
        env.install(builder.build_system_requires)
        env.install(builder.get_requires_for_build("editable"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            builder.build("editable", tmp_path)

    assert [str(w.message) for w in caught] == []


def _field(text: str, pattern: str) -> str:
    match = re.search(pattern, text, re.M)
    assert match, f"{pattern!r} not in:\n{text}"
    return match.group(1)


def _run(argv: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"{argv}: {result.stderr}"
    return result.stdout


def _dead_ids(table: str) -> list[str]:
    return re.findall(r"^(\w{26}) +dead ", table, re.M)


@contextmanager
def _serving(argv: list[str], env: dict[str, str]) -> Iterator[None]:
    server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _answers(argv, server), 20, "the dashboard to serve")
        yield
    finally:
        server.terminate()
        server.wait(10)


def _answers(argv: list[str], server: subprocess.Popen[str]) -> bool:
    if server.poll() is not None:
        stderr = server.stderr.read() if server.stderr else ""
        raise AssertionError(f"{argv} exited with {server.returncode}: {stderr}")
    try:
        _get(f"http://127.0.0.1:{argv[-1]}/metrics")
    except OSError:
        return False
    return True


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
        return body.decode()


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

    summary = summarize(list(reversed(jobs)), started=0.0)

    assert (summary.total, summary.done, summary.retried, summary.dead) == (3, 2, 2, 1)
    assert summary.elapsed == 4.0
    assert summary.urgent_wait == 1.0
    assert summary.fifo_urgent_wait == 3.0
