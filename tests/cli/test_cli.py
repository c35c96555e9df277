"""The `taskheap` command, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

APP_MODULE = """
import taskheap
app = taskheap.App()

@app.task(name="mul", retries=0)
def mul(x, y):
    return x * y

@app.task(name="fails", retries=0)
def fails():
    raise RuntimeError("nope")
"""


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "cliapp.py").write_text(APP_MODULE)
    env = {**os.environ, "TASKHEAP_URL": f"sqlite:///{tmp_path}/cli.db", "TASKHEAP_APP": "cliapp:app"}

    def invoke(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "taskheap", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (done.returncode == 0) == ok, done.stdout + done.stderr
        return done

    return invoke


def test_enqueue_work_and_inspect_from_the_command_line(run) -> None:  # type: ignore[no-untyped-def]
    job_id = run("enqueue", "mul", "--args", "[6, 7]", "--priority", "1").stdout.strip()
    failing = run("enqueue", "fails").stdout.strip()
    run("worker", "--burst")
    stats = json.loads(run("status", "--json").stdout)
    assert stats["queues"]["default"]["succeeded"] == 1 and stats["queues"]["default"]["dead"] == 1
    assert stats["workers"] == []
    shown = json.loads(run("jobs", "show", job_id, "--json").stdout)
    assert shown["result"] == 42 and shown["priority"] == 1
    assert failing in run("dlq", "list").stdout
    assert "RuntimeError: nope" in run("dlq", "show", failing).stdout
    shown = run("jobs", "show", failing).stdout
    assert "failed attempts (1, oldest first)" in shown and 'raise RuntimeError("nope")' in shown
    (attempt,) = json.loads(run("jobs", "show", failing, "--json").stdout)["failed_attempts"]
    assert attempt["attempt"] == 1 and attempt["error"] == "RuntimeError: nope"
    assert "replayed 1 job(s)" in run("dlq", "retry", failing).stdout
    run("worker", "--burst")
    assert "purged 1 dead job(s)" in run("dlq", "purge", "--yes").stdout
    assert "queue" in run("status").stdout


def test_migrate_is_idempotent(run) -> None:  # type: ignore[no-untyped-def]
    assert "schema up to date" in run("migrate").stdout
    assert "schema up to date" in run("migrate").stdout


def test_bad_arguments_are_named(run) -> None:  # type: ignore[no-untyped-def]
    assert "--args is not valid JSON" in run("enqueue", "mul", "--args", "[1,", ok=False).stderr
    assert "0..1000" in run("enqueue", "mul", "--priority", "2000", ok=False).stderr
    assert "not found" in run("jobs", "show", "NOPE", ok=False).stderr
    assert "unknown job state" in run("jobs", "list", "--state", "weird", ok=False).stderr


def test_bad_url_is_a_clear_error(run) -> None:  # type: ignore[no-untyped-def]
    done = run("--url", "nosuch://x", "status", ok=False)
    assert "unknown backend URL" in done.stderr and "Traceback" not in done.stderr


def test_paused_queue_is_skipped_by_workers(run) -> None:  # type: ignore[no-untyped-def]
    run("queues", "pause", "default")
    job_id = run("enqueue", "mul", "--args", "[1, 1]").stdout.strip()
    status = json.loads(run("jobs", "show", job_id, "--json").stdout)["status"]
    assert status == "queued"
    run("queues", "resume", "default")
    run("worker", "--burst")
    assert json.loads(run("jobs", "show", job_id, "--json").stdout)["status"] == "succeeded"
