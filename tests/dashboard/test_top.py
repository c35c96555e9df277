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
from taskheap.backends.base import Failure, WorkerInfo
from taskheap.dashboard.top import Top
from taskheap.job import JobState
from tests.conftest import wait_for
from tests.dashboard.conftest import LEASE, Store, retrying_job

TASKHEAP = str(Path(sys.executable).with_name("taskheap"))
PG_DOWN = "\x1b[6~"
EXCEPTION = "ValueError: the exception line, at the end of the traceback"


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
    text = press(top, "\t", "\r")
    assert "<script>alert(1)</script>" in text and "Traceback: line 1" in text and "attempts: 1 of 1" in text
    assert text.splitlines()[1] == "dead: SMTPError: <relay> refused"
    assert "recent failures" not in text
    assert "recent failures" in press(top, "\x1b")


def test_r_retries_the_selected_dead_job(top: Top, store: Store) -> None:
    text = press(top, "\t", "r")
    assert f"retried {store.dead}" in text
    assert store.app.admin.job(store.dead).status == JobState.QUEUED


def test_x_asks_before_it_purges_the_selected_dead_job(top: Top, store: Store) -> None:
    text = press(top, "\t", "x")
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
    text = press(top, "\t", "\r")
    assert job_id in text and "failed attempts (2, oldest first)" in text
    assert "#1" in text and "IOError: try 1" in text and "Traceback (attempt 2)" in text


def test_r_retries_the_selected_retrying_job_now(top: Top, store: Store) -> None:
    job_id = retrying_job(store)
    top.refresh()
    assert f"retried {job_id}" in press(top, "\t", "r")
    info = store.app.admin.job(job_id)
    assert (info.status, info.attempts) == (JobState.QUEUED, 2)


def test_x_refuses_to_purge_a_retrying_job(top: Top, store: Store) -> None:
    job_id = retrying_job(store)
    top.refresh()
    assert "only dead jobs can be purged" in press(top, "\t", "x")
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
    assert lines[-1] == "↑↓ move  tab pane  ⏎ open  r retry  x purge  p pause  f filter  q quit"
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
    assert "queues 16-21 of 31" in text
    text = "\n".join(small(top, *["k"] * 20))
    assert "failing" in text and "queues 1-6 of 31" in text
    text = "\n".join(small(top, "\t", *["j"] * 39))
    newest_first = sorted((j.id for j in crowded.admin.jobs(state="dead", limit=50)), reverse=True)
    assert newest_first[29][-6:] in text and newest_first[0][-6:] not in text  # the feed holds 30
    assert "recent failures (dead and retrying) 25-30 of 30" in text


def test_at_80x24_the_job_view_scrolls_and_keeps_the_exception_line_in_view(crowded: taskheap.App) -> None:
    top = Top(crowded.admin)
    top.refresh()
    lines = small(top, "\t", "\r")
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
    tmux("send-keys", "-t", session, "Tab", "Enter")
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
