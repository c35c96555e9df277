"""`taskheap top`: the view and its keys through a headless harness (keys in, a recorded
Console out), `--once`, and the real full-screen program in tmux."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid

import pytest
from rich.console import Console

from taskheap.dashboard.top import Top
from taskheap.job import JobState
from tests.conftest import wait_for
from tests.dashboard.conftest import Store, retrying_job


def screen(top: Top) -> str:
    console = Console(record=True, width=140, height=60)
    console.print(top.render())
    return console.export_text()


def press(top: Top, *keys: str) -> str:
    for key in keys:
        assert top.handle(key)
    return screen(top)


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


def test_enter_opens_the_selected_failure_and_esc_closes_it(top: Top, store: Store) -> None:
    text = press(top, "\t", "\r")
    assert "<script>alert(1)</script>" in text and "Traceback: line 1" in text and "attempts: 1 of 1" in text
    assert "recent failures" not in text
    assert "recent failures" in press(top, "\x1b")


def test_r_retries_the_selected_dead_job(top: Top, store: Store) -> None:
    text = press(top, "\t", "r")
    assert f"retried {store.dead}" in text
    assert store.app.admin.job(store.dead).status == JobState.QUEUED


def test_x_purges_the_selected_dead_job(top: Top, store: Store) -> None:
    press(top, "\t", "x")
    assert store.app.admin.jobs(state="dead") == []


def test_p_pauses_and_resumes_the_selected_queue(top: Top, store: Store) -> None:
    assert "default (paused)" in press(top, "p")
    assert store.app.admin.paused() == {"default"}
    press(top, "p")
    assert store.app.admin.paused() == set()


def test_arrows_move_and_f_filters_by_the_selected_queue(top: Top) -> None:
    text = press(top, "\x1b[B", "f")
    assert "filter: emails" in text and "default" not in text.split("queued by priority")[0]
    assert "showing every queue" in press(top, "f")


def test_q_quits(top: Top) -> None:
    assert top.handle("q") is False


def test_once_prints_one_plain_snapshot(store: Store) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "taskheap", "--url", store.app.url, "top", "--once"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout
    assert "emails" in result.stdout and store.dead in result.stdout


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_runs_full_screen_in_a_terminal_and_quits_on_q(store: Store) -> None:
    session = f"taskheap-top-{uuid.uuid4().hex[:8]}"
    command = f"{sys.executable} -m taskheap --url {store.app.url} top"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "140", "-y", "45", command], check=True)
    try:

        def pane() -> str:
            return subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout

        wait_for(lambda: "recent failures" in pane(), 15, "top to draw")
        subprocess.run(["tmux", "send-keys", "-t", session, "Tab", "Enter"], check=True)
        wait_for(lambda: "Traceback: line 1" in pane(), 10, "the job to open")
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        wait_for(lambda: subprocess.run(["tmux", "has-session", "-t", session]).returncode != 0, 10, "exit")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


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
