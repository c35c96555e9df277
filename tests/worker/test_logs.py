"""What a worker process logs, read from its real output: the banner, failures with what
follows them, timeouts, a graceful stop's progress; as text or JSON lines; never a payload."""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest

from taskheap.urls import redacted

from ..conftest import wait_for
from .conftest import Lab

# What the worker logs is decided above the seam: one backend shows it.
on_sqlite = pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)

SECRET = "a-payload-value-that-must-never-be-logged"


def json_lines(output: str) -> list[dict[str, Any]]:
    """Every line of the output, each a JSON object (a line that is not fails the test)."""
    return [json.loads(line) for line in output.splitlines() if line.strip()]


@on_sqlite
def test_json_logs_name_the_worker_and_each_job_and_never_the_payload(lab: Lab) -> None:
    ok = lab.tasks.add.enqueue(SECRET, "!")
    failing = lab.tasks.always_fails.enqueue()
    worker = lab.worker("--burst", "--log-format", "json")
    assert worker.wait() == 0, worker.output()
    assert ok.result(timeout=1) == SECRET + "!"
    assert SECRET not in worker.output()
    lines = json_lines(worker.output())
    assert all({"ts", "level", "event", "logger"} <= set(line) for line in lines)
    (banner,) = [line for line in lines if line["event"].startswith("taskheap ")]
    assert banner["level"] == "info" and banner["worker"] in banner["event"]
    assert (
        "serving default" in banner["event"]
        and "concurrency 4, thread pool, prefetch auto" in banner["event"]
    )
    about = [line for line in lines if line.get("job_id") == failing.id]
    retries = [line for line in about if "retrying in" in line["event"]]
    assert [line["attempt"] for line in retries] == [1, 2]
    assert all(line["level"] == "info" and line["retry_at"] for line in retries)
    (dead,) = [line for line in about if "is dead" in line["event"]]
    assert dead["level"] == "warning" and dead["attempt"] == 3
    assert dead["error"] == "ValueError: this task always fails"
    assert {line["task"] for line in about} == {"always_fails"} and {line["queue"] for line in about} == {
        "default"
    }
    assert not [line for line in lines if line["level"] == "debug"]  # info by default
    assert not [line for line in lines if "Traceback" in line["event"]]  # tracebacks at debug


@on_sqlite
def test_debug_text_logs_each_job_and_the_traceback(lab: Lab) -> None:
    ok = lab.tasks.add.enqueue(1, 2)
    failing = lab.tasks.always_fails.enqueue()
    worker = lab.worker("--burst", "--log-level", "debug", env={"TASKHEAP_LOG_FORMAT": "text"})
    assert worker.wait() == 0, worker.output()
    output = worker.output()
    assert f"job {ok.id} started (add, attempt 1)" in output
    assert f"job {ok.id} succeeded" in output and f"job_id={ok.id} task=add queue=default attempt=1" in output
    lines = output.splitlines()
    (at,) = [i for i, line in enumerate(lines) if f"traceback of job {failing.id}:" in line][-1:]
    assert lines[at + 1] == "Traceback (most recent call last):"


@on_sqlite
def test_the_format_comes_from_the_environment_too(lab: Lab) -> None:
    worker = lab.worker("--burst", env={"TASKHEAP_LOG_FORMAT": "json"})
    assert worker.wait() == 0, worker.output()
    assert json_lines(worker.output())


@on_sqlite
def test_a_timeout_and_a_graceful_stop_say_what_happens(lab: Lab) -> None:
    over = lab.tasks.sleepy.options(timeout=1, retries=0).enqueue("over", 10)
    long = lab.tasks.sleepy.enqueue("long", 60)
    worker = lab.worker("--grace", "6", "--concurrency", "2")
    wait_for(lambda: lab.marks("long.start") and over.info().status == "dead", timeout=30, what="the timeout")
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0, worker.output()
    output = worker.output()
    assert (
        f"job {over.id} (sleepy) ran past its 1s timeout: its thread abandoned, a new slot started" in output
    )
    assert f"waiting up to 6s for 1 running: {long.id} (sleepy)" in output
    assert f"s of grace left for 1 running job(s): {long.id}" in output  # after 5 s of the 6
    assert f"the 6s grace is over; 1 job(s) still running are failed as attempts: {long.id}" in output


def test_urls_are_logged_without_their_secrets() -> None:
    assert redacted("redis://:hunter2@host:6379/0?prefix=app") == "redis://:***@host:6379/0?prefix=app"
    assert redacted("postgresql://app:pw@db/app?password=x&schema=s") == (
        "postgresql://app:***@db/app?password=***&schema=s"
    )
    assert redacted("sqlite:///taskheap.db") == "sqlite:///taskheap.db"
    assert redacted("redis://:hunter2@host:6379/0?prefix=app", query=False) == "redis://:***@host:6379/0"
    assert redacted("postgresql://app:pw@db/app?schema=s", query=False) == "postgresql://app:***@db/app"
