"""`taskheap top`: the view and its keys through a headless harness (keys in, a recorded
Console of a given size out), `--once`, and the real full-screen program in tmux, at 80x24."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console

import taskheap
from taskheap.backends.base import Failure, ProgressUpdate, WorkerInfo
from taskheap.dashboard.top import Top
from taskheap.job import JobState
from taskheap.progress import encode
from taskheap.task import JobOptions, JobSpec
from tests.conftest import sqlite_url, wait_for
from tests.dashboard.conftest import LEASE, Store, retrying_job
from tests.worker.conftest import Lab

TASKHEAP = str(Path(sys.executable).with_name("taskheap"))
PG_DOWN = "\x1b[6~"
EXCEPTION = "ValueError: the exception line, at the end of the traceback"
RUNNING, FAILURES = ("\t",), ("\t", "\t")  # tab moves the focus: queues, running, failures


def screen(top: Top, width: int = 140, height: int | None = None) -> str:
    console = Console(record=True, width=width, height=height or 60)
    console.print(top.render(), height=height)
    return console.export_text()


def press(top: Top, *keys: str, width: int = 140, height: int | None = None) -> str:
    for key in keys:
        assert top.handle(key)
    return screen(top, width, height)


def row(text: str, first: str) -> list[str]:
    """The cells of the first panel on the screen line whose first cell there is `first`."""
    for line in text.splitlines():
        cells = next((part for part in line.split("│") if part.strip()), "").split()
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in\n{text}")


@pytest.fixture
def top(store: Store) -> Top:
    view = Top(store.app.admin)
    view.refresh()
    return view


def test_shows_queues_priorities_activity_workers_and_failures(top: Top, store: Store) -> None:
    text = screen(top)
    assert "default" in text and "emails" in text
    assert "P1" in text and "P7" in text
    assert "done/min" in text and "failed/min" in text
    assert "w1" in text and store.running[-6:] in text and "s ago" in text
    assert store.dead in text and "SMTPError: <relay> refused" in text
    assert "slots 1/4" in text


def test_the_activity_panel_shows_cancellations_when_it_has_the_room(store: Store) -> None:
    second = WorkerInfo("w2", "host-b", 43, ["default"], 2, 0.0)
    store.app.backend.heartbeat(second, [], LEASE)  # two workers: the panel has five lines
    view = Top(store.app.admin)
    view.refresh()
    assert "cancel/min" in screen(view)


def test_enter_opens_the_selected_failure_and_esc_closes_it(top: Top, store: Store) -> None:
    text = press(top, *FAILURES, "\r")
    assert "<script>alert(1)</script>" in text and "Traceback: line 1" in text and "attempts: 1 of 1" in text
    assert text.splitlines()[1] == "dead: SMTPError: <relay> refused"
    assert "recent failures" not in text
    assert "recent failures" in press(top, "\x1b")


def test_r_retries_the_selected_dead_job(top: Top, store: Store) -> None:
    text = press(top, *FAILURES, "r")
    assert f"retried {store.dead}" in text
    assert store.app.admin.job(store.dead).status == JobState.QUEUED


def test_x_asks_before_it_purges_the_selected_dead_job(top: Top, store: Store) -> None:
    text = press(top, *FAILURES, "x")
    assert text.splitlines()[-1] == f"purge dead job {store.dead} for good? y: purge, any other key: keep it"
    assert f"kept {store.dead}" in press(top, "n")
    assert store.app.admin.job(store.dead).status == JobState.DEAD
    assert f"kept {store.dead}" in press(top, "x", "q")  # q answers the question: it does not quit
    assert f"purged {store.dead}" in press(top, "x", "y")
    assert store.app.admin.jobs(state="dead") == []


def test_p_pauses_and_resumes_the_selected_queue(top: Top, store: Store) -> None:
    assert row(press(top, "p"), "default")[1] == "yes"
    assert store.app.admin.paused() == {"default"}
    assert row(press(top, "p"), "default")[1] != "yes"
    assert store.app.admin.paused() == set()


def test_arrows_move_and_f_filters_by_the_selected_queue(top: Top) -> None:
    text = press(top, "\x1b[B", "f")
    assert "filter: emails" in text and "default" not in text.split("queued by priority")[0]
    assert "showing every queue" in press(top, "f")


# -- the running jobs ------------------------------------------------------------------------
def running_job(store: Store, queue: str, progress: str | None = None) -> str:
    """A new job of task `crawl` in `queue` claimed by worker w2, with the `progress` (encoded)
    its run reported."""
    crawl = store.app.tasks.get("crawl") or store.app.task(name="crawl", retries=2)(lambda: None)
    handle = crawl.options(queue=queue).enqueue()
    (run,) = store.app.backend.claim([queue], "w2", 1, LEASE)
    if progress is not None:
        assert store.app.backend.record_progress([ProgressUpdate(run.id, run.token, progress)]) == [run.id]
    return handle.id


def test_a_running_job_shows_its_queue_task_worker_attempt_and_progress(top: Top, store: Store) -> None:
    counted = running_job(store, "crawl", encode(30, 120, "pages"))
    uncounted = running_job(store, "rows", encode(1234, None, "rows read"))
    top.refresh()
    text = screen(top)
    assert "running, newest first" in text
    cells = row(text, counted)
    assert cells[1:4] == ["crawl", "crawl", "w2"] and cells[6] == "1/3"  # 4, 5: "N ms"
    assert cells[7:] == ["██░░░░░░░░", "25%", "pages"]
    assert row(text, uncounted)[7:] == ["1234", "rows", "read"]
    assert row(text, store.running)[1:4] == ["default", "add", "w1"] and row(text, store.running)[-1] == "-"
    assert "cancel" not in row(text, "id")  # the column shows once a job listed has a request


def test_tab_reaches_the_running_jobs_and_enter_opens_the_selected_one(top: Top, store: Store) -> None:
    job_id = running_job(store, "crawl", encode(30, 120, "pages"))
    top.refresh()
    text = press(top, *RUNNING, "\r")
    assert f"job {job_id}" in text and "status: running" in text and "running, newest first" not in text
    assert "progress: 30/120 (25%) pages" in text
    assert "running, newest first" in press(top, "\x1b")
    assert f"job {store.running}" in press(top, "j", "\r")  # the next one down: older
    assert f"job {store.dead}" in press(top, "\x1b", "\t", "\r")  # tab again: the failures
    assert "recent failures" in press(top, "\x1b", "\t", "\r")  # and again: the queues (enter opens none)


def test_r_and_x_refuse_to_act_on_a_running_job(top: Top, store: Store) -> None:
    short = store.running[-6:]
    text = press(top, *RUNNING, "r")
    assert f"{short} is running: only dead or retrying jobs can be retried" in text
    assert f"{short} is running: only dead jobs can be purged" in press(top, "x")
    assert top.state.pending is None and store.app.admin.job(store.running).status == JobState.RUNNING
    assert "only dead or retrying jobs can be retried" in press(top, "\r", "r")  # the open job too


def test_c_asks_then_requests_cancel_of_the_selected_running_job(top: Top, store: Store) -> None:
    text = press(top, *RUNNING, "c")
    assert text.splitlines()[-1] == (
        f"cancel running job {store.running}? y: cancel it, any other key: let it run"
    )
    assert f"kept {store.running}" in press(top, "n")
    assert store.app.backend.cancel_requests([store.running]) == set()
    text = press(top, "c", "y")
    assert f"cancel requested for {store.running}" in text
    assert store.app.backend.cancel_requests([store.running]) == {store.running}
    assert store.app.admin.job(store.running).status == JobState.RUNNING  # its worker stops it
    assert row(text, store.running)[-2:] == ["requested", "-"]


def test_c_cancels_a_retrying_job_at_once_and_refuses_a_dead_one(top: Top, store: Store) -> None:
    job_id = retrying_job(store)
    top.refresh()
    assert f"{store.dead[-6:]} is dead: only running or waiting jobs can be cancelled" in press(
        top, *FAILURES, "j", "c"
    )
    question = press(top, "k", "c").splitlines()[-1]
    assert question == f"cancel retrying job {job_id}? y: cancel it, any other key: keep it"
    assert f"cancelled {job_id}" in press(top, "y")
    assert store.app.admin.job(job_id).status == JobState.CANCELLED


def test_the_running_panel_reads_only_as_many_jobs_as_it_shows(top: Top, store: Store) -> None:
    newest = [running_job(store, "crawl") for _ in range(40)][::-1]
    top.refresh()  # before a first draw: the first FEED (30)
    assert [r.job.id for r in top.state.running] == newest[:30]
    text = "\n".join(small(top))
    assert "running, newest first 1-5 of 41" in text
    top.refresh()
    assert [r.job.id for r in top.state.running] == newest[:5]
    text = "\n".join(small(top, *RUNNING, *["j"] * 10))  # the cursor stops at the last row read
    assert top.state.selected_job() == store.app.admin.job(newest[4])
    assert newest[4][-6:] in text and newest[5][-6:] not in text


def test_the_cursor_stays_on_its_running_job_when_a_newer_one_starts(top: Top, store: Store) -> None:
    press(top, *RUNNING)
    assert top.state.selected_job() is not None and top.state.selected_job().id == store.running
    running_job(store, "late")
    top.refresh()
    assert top.state.selected_job().id == store.running and top.state.cursor["running"] == 1


def test_q_quits(top: Top) -> None:
    assert top.handle("q") is False


def test_once_prints_one_plain_snapshot(store: Store) -> None:
    result = subprocess.run(
        [TASKHEAP, "--url", store.app.url, "top", "--once"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout
    assert "emails" in result.stdout and store.dead in result.stdout


def test_without_a_terminal_top_says_it_needs_one(store: Store) -> None:
    result = subprocess.run(
        [TASKHEAP, "--url", store.app.url, "top"], stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        "error: taskheap top needs a terminal; use `taskheap top --once` for a plain snapshot\n"
    )


def test_an_opened_job_shows_every_failed_attempt(top: Top, store: Store) -> None:
    job_id = retrying_job(store)
    top.refresh()
    text = press(top, *FAILURES, "\r")
    assert job_id in text and "failed attempts (2, oldest first)" in text
    assert "#1" in text and "IOError: try 1" in text and "Traceback (attempt 2)" in text


def test_r_retries_the_selected_retrying_job_now(top: Top, store: Store) -> None:
    job_id = retrying_job(store)
    top.refresh()
    assert f"retried {job_id}" in press(top, *FAILURES, "r")
    info = store.app.admin.job(job_id)
    assert (info.status, info.attempts) == (JobState.QUEUED, 2)


def test_x_refuses_to_purge_a_retrying_job(top: Top, store: Store) -> None:
    job_id = retrying_job(store)
    top.refresh()
    assert "only dead jobs can be purged" in press(top, *FAILURES, "x")
    assert store.app.admin.job(job_id).status == JobState.RETRYING


# -- a small terminal -------------------------------------------------------------------------
@pytest.fixture
def crowded(tmp_path: Path) -> Iterator[taskheap.App]:
    """30 queues of one queued job each, and 40 dead jobs in `failing`, each with a traceback of
    some 60 lines at 80 columns whose last line is EXCEPTION."""
    app = taskheap.App(f"sqlite:///{tmp_path}/crowded.db")
    task = app.task(name="reports.monthly.rebuild_every_index", retries=0)(lambda n: n)
    for n in range(30):
        task.options(queue=f"queue-{n:02d}").enqueue(n)
    app.enqueue_many([task.options(queue="failing").job(n) for n in range(40)])
    frames = "".join(
        f'  File "/srv/app/step{n}.py", line {n}, in step{n}\n    call_{n}({"x" * 70})\n' for n in range(20)
    )
    traceback = f"Traceback (most recent call last):\n{frames}{EXCEPTION}"
    jobs = app.backend.claim(["failing"], "w1", 40, 30.0)
    app.backend.fail([Failure(j.id, j.token, f"{EXCEPTION} ({'y' * 60})", traceback, None) for j in jobs])
    yield app
    app.close()


def small(top: Top, *keys: str) -> list[str]:
    lines = press(top, *keys, width=80, height=24).splitlines()
    assert len(lines) == 24 and all(len(line) <= 80 for line in lines), lines
    return lines


def test_at_80x24_every_panel_fits_and_the_key_help_is_the_last_line(top: Top, store: Store) -> None:
    lines = small(top)
    assert lines[-1] == "↑↓ move  tab pane  ⏎ open  r retry  x purge  c cancel  p pause  f filter  q quit"
    text = "\n".join(lines)
    assert "queues" in text and "workers" in text and "recent failures" in text and "done/min" in text
    assert store.dead[-6:] in text and "SMTPError: <relay> refused" in text


def test_columns_abbreviate_then_drop_by_priority_as_the_screen_narrows(crowded: taskheap.App) -> None:
    top = Top(crowded.admin)
    top.refresh()
    full = ["queue", "paused", "queued", "scheduled", "running", "retrying", "succeeded", "dead", "cancelled"]
    assert row(screen(top, 200, 24), "queue") == [*full, "oldest", "queued"]
    short = ["queue", "paused", "queued", "sched", "run", "retry", "done", "dead", "cancl", "oldest"]
    assert row(screen(top, 80, 24), "queue") == short
    assert row(screen(top, 60, 24), "queue") == [
        "queue",
        "paused",
        "queued",
        "run",
        "retry",
        "dead",
        "oldest",
    ]
    assert row(screen(top, 40, 24), "queue") == ["queue", "paused", "queued", "run", "retry"]
    assert row(screen(top, 200, 24), "id") == ["id", "state", "queue", "task", "attempts", "error"]
    assert row(screen(top, 80, 24), "id") == ["id", "state", "queue", "task", "att", "error"]
    assert row(screen(top, 70, 24), "id") == ["id", "state", "task", "att", "error"]
    assert row(screen(top, 60, 24), "id") == ["id", "state", "task", "error"]
    assert row(screen(top, 50, 24), "id") == ["id", "state", "error"]
    assert crowded.admin.jobs(state="dead", limit=1)[0].id[-6:] in screen(top, 80, 24)  # ids shortened


def test_at_80x24_the_selection_scrolls_its_list(crowded: taskheap.App) -> None:
    top = Top(crowded.admin)
    top.refresh()
    text = "\n".join(small(top, *["j"] * 20))
    assert "queue-19" in text and "queue-00" not in text  # failing, then queue-00: the 21st is queue-19
    assert "queues 18-21 of 31" in text
    text = "\n".join(small(top, *["k"] * 20))
    assert "failing" in text and "queues 1-4 of 31" in text
    text = "\n".join(small(top, *FAILURES, *["j"] * 39))
    newest_first = sorted((j.id for j in crowded.admin.jobs(state="dead", limit=50)), reverse=True)
    assert newest_first[29][-6:] in text and newest_first[0][-6:] not in text  # the feed holds 30
    assert "recent failures (dead and retrying) 27-30 of 30" in text


def test_at_80x24_the_job_view_scrolls_and_keeps_the_exception_line_in_view(crowded: taskheap.App) -> None:
    top = Top(crowded.admin)
    top.refresh()
    lines = small(top, *FAILURES, "\r")
    assert lines[1].startswith(f"dead: {EXCEPTION}") and lines[1].endswith("…")
    assert "lines 1-19 of" in lines[2] and lines[-1].startswith("↑↓ scroll  PgUp/PgDn page  esc back")
    assert EXCEPTION not in [line.strip("│ ") for line in lines[3:-2]]  # the traceback's last line
    lines = small(top, *[PG_DOWN] * 10)
    body = [line.strip("│ ") for line in lines[3:-2]]
    assert body[-1] == EXCEPTION and lines[1].startswith(f"dead: {EXCEPTION}")
    end = lines[2]
    assert small(top, PG_DOWN)[2] == end  # the last page is as far as it goes
    assert "lines 1-19 of" in small(top, *["\x1b[5~"] * 10)[2]
    assert "lines 2-20 of" in small(top, "j")[2]


def tmux(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True)


@pytest.fixture
def terminal() -> Iterator[Callable[[str], str]]:
    """Start a command in a detached 80x24 tmux session; yields a function that does so and
    names the session. The session is killed at the end."""
    sessions: list[str] = []

    def start(command: str) -> str:
        session = f"taskheap-top-{uuid.uuid4().hex[:8]}"
        tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", command)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def pane(session: str) -> list[str]:
    return tmux("capture-pane", "-p", "-t", session).stdout.splitlines()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_runs_full_screen_in_an_80x24_terminal(crowded: taskheap.App, terminal: Callable[[str], str]) -> None:
    session = terminal(f"{TASKHEAP} --url {crowded.url} top")
    wait_for(lambda: "recent failures" in "\n".join(pane(session)), 15, "top to draw")
    lines = pane(session)
    assert len(lines) == 24 and lines[-1].startswith("↑↓ move  tab pane  ⏎ open")
    tmux("send-keys", "-t", session, "Tab", "Tab", "Enter")  # queues -> running -> failures
    wait_for(lambda: pane(session)[1].startswith(f"dead: {EXCEPTION}"), 10, "the job to open")
    for _ in range(10):
        tmux("send-keys", "-t", session, "PageDown")
    wait_for(lambda: pane(session)[-3].strip("│ ") == EXCEPTION, 10, "the job view to scroll to its end")
    tmux("send-keys", "-t", session, "Escape")
    wait_for(lambda: "recent failures" in "\n".join(pane(session)), 10, "the job to close")
    tmux("send-keys", "-t", session, "x")
    wait_for(lambda: "for good? y: purge" in pane(session)[-1], 10, "the purge question")
    tmux("send-keys", "-t", session, "y")
    wait_for(lambda: len(crowded.admin.jobs(state="dead", limit=50)) == 39, 10, "the purge")
    tmux("send-keys", "-t", session, "q")
    wait_for(lambda: subprocess.run(["tmux", "has-session", "-t", session]).returncode != 0, 10, "exit")


def test_a_queue_with_limits_at_claim_shows_running_and_starts_against_them(store: Store) -> None:
    store.app.queue("default", concurrency=4, rate="100/s")
    view = Top(store.app.admin)
    view.refresh()
    assert "running 1/4, starts 0/100/s" in " ".join(row(screen(view, width=200), "default"))


CRAWL_TASKS = """
import time

from taskheap import Cancel, current_job
from testtasks import app


@app.task(name="crawl")
def crawl(pages):
    current_job().progress(3, pages, "pages")
    while not current_job().cancelled:
        time.sleep(0.02)
    raise Cancel("stopped from top")
"""


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_a_real_workers_running_job_shows_its_progress_and_c_cancels_it(
    tmp_path: Path, terminal: Callable[[str], str]
) -> None:
    lab = Lab(tmp_path, sqlite_url(tmp_path))
    try:
        (tmp_path / "crawltasks.py").write_text(CRAWL_TASKS)
        handle = lab.app.enqueue(JobSpec("crawl", (10,), {}, JobOptions()))
        worker = lab.worker("--concurrency", "1", app="crawltasks:app")
        wait_for(lambda: handle.info().progress is not None, 15, "the job's first report")
        session = terminal(f"{TASKHEAP} --url {lab.url} top")
        wait_for(lambda: "███░░░░░░░  30% pages" in "\n".join(pane(session)), 15, "the bar")
        tmux("send-keys", "-t", session, "Tab", "c")
        wait_for(lambda: pane(session)[-1].startswith(f"cancel running job {handle.id[-6:]}?"), 10, "the ask")
        tmux("send-keys", "-t", session, "y")
        wait_for(lambda: handle.status() == "cancelled", 10, "the worker to cancel the job")
        assert handle.info().error == "stopped from top", worker.output()
        wait_for(lambda: "(nothing running)" in "\n".join(pane(session)), 10, "the panel to empty")
        tmux("send-keys", "-t", session, "q")
    finally:
        lab.close()
