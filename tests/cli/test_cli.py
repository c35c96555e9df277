"""The `taskheap` command end to end: enqueue, work, inspect, the dead letters, and its errors."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

import click
import pytest

from taskheap.backends.base import Failure
from taskheap.cli import cli as root
from tests.cli.conftest import Cli


def test_enqueue_work_and_inspect_from_the_command_line(cli: Cli) -> None:
    job_id = cli("enqueue", "add", "--args", "[6, 7]", "--priority", "1").stdout.strip()
    failing = cli("enqueue", "fails").stdout.strip()
    cli("worker", "--burst")
    stats = json.loads(cli("status", "--json").stdout)
    assert stats["queues"]["default"]["succeeded"] == 1 and stats["queues"]["default"]["dead"] == 1
    assert stats["workers"] == []
    shown = json.loads(cli("jobs", "show", job_id, "--json").stdout)
    assert shown["result"] == 13 and shown["priority"] == 1 and shown["task"] == "tasks.add"
    assert failing in cli("dlq", "list").stdout
    assert "RuntimeError: nope" in cli("dlq", "show", failing).stdout
    shown = cli("jobs", "show", failing).stdout
    assert "failed attempts (1, oldest first)" in shown and 'raise RuntimeError("nope")' in shown
    (attempt,) = json.loads(cli("jobs", "show", failing, "--json").stdout)["failed_attempts"]
    assert attempt["attempt"] == 1 and attempt["error"] == "RuntimeError: nope"
    assert "replayed 1 job(s)" in cli("dlq", "retry", failing).stdout
    cli("worker", "--burst")
    assert "purged 1 dead job(s)" in cli("dlq", "purge", "--yes").stdout
    assert "queue" in cli("status").stdout


def test_the_readme_enqueue_of_a_short_task_name_runs_under_a_worker(bare: Cli) -> None:
    job_id = bare("-A", "tasks:app", "enqueue", "add", "--args", "[1, 2]").stdout.strip()
    bare("-A", "tasks:app", "worker", "--burst")
    shown = json.loads(bare("jobs", "show", job_id, "--json").stdout)
    assert (shown["task"], shown["status"], shown["result"]) == ("tasks.add", "succeeded", 3)


def test_version(bare: Cli) -> None:
    assert bare("--version").stdout.strip() == "taskheap 0.1.0"


def test_migrate_is_idempotent(cli: Cli) -> None:
    assert f"schema up to date: {cli.url}" in cli("migrate").stdout
    assert "schema up to date" in cli("migrate").stdout


def test_bad_arguments_are_named(cli: Cli) -> None:
    assert "0..1000" in cli("enqueue", "add", "--args", "[1, 2]", "--priority", "2000", code=2).stderr
    assert "'weird' is not one of" in cli("jobs", "list", "--state", "weird", code=2).stderr
    assert "--limit" in cli("jobs", "list", "--limit", "0", code=2).stderr


def test_bad_url_is_a_clear_error(cli: Cli) -> None:
    done = cli("--url", "nosuch://x", "status", code=2)
    assert "unknown backend URL" in done.stderr and "Traceback" not in done.stderr


def test_unknown_ids_are_not_found(cli: Cli) -> None:
    cli("enqueue", "add", "--args", "[1, 2]")
    for command in (("jobs", "show"), ("jobs", "cancel"), ("dlq", "show"), ("dlq", "retry")):
        done = cli(*command, "01NOSUCHJOB0000000000000000", code=1)
        assert done.stderr == "error: job 01NOSUCHJOB0000000000000000 not found\n", command


def test_dlq_refuses_a_job_that_is_not_dead(cli: Cli) -> None:
    job_id = cli("enqueue", "add", "--args", "[1, 2]").stdout.strip()
    for command in ("show", "retry"):
        done = cli("dlq", command, job_id, code=1)
        assert done.stderr == f"error: job {job_id} is not dead, it is queued (taskheap jobs show {job_id})\n"
    assert json.loads(cli("jobs", "show", job_id, "--json").stdout)["status"] == "queued"


def test_cancel_says_why_a_running_or_finished_job_is_not_cancelled(cli: Cli) -> None:
    job_id = cli("enqueue", "add", "--args", "[1, 2]").stdout.strip()
    cli("worker", "--burst")
    assert f"job {job_id} is succeeded: not cancelled" in cli("jobs", "cancel", job_id, code=1).stderr
    waiting = cli("enqueue", "add", "--args", "[1, 2]", "--delay", "3600").stdout.strip()
    assert cli("jobs", "cancel", waiting).stdout == f"cancelled {waiting}\n"
    running = cli("enqueue", "add", "--args", "[1, 2]").stdout.strip()
    with closing(cli.app()) as app:
        (claimed,) = app.backend.claim(["default"], "w1", 1, 30.0)
        assert claimed.id == running
        said = cli("jobs", "cancel", running).stdout
        assert said == f"cancel requested for {running}: running, its worker stops it\n"
        assert app.backend.cancel_requests([running]) == {running}


@pytest.mark.parametrize("answer", ["n\n", ""], ids=["no", "end-of-input"])
def test_declining_a_confirmation_aborts_with_exit_1(cli: Cli, answer: str) -> None:
    failing = cli("enqueue", "fails").stdout.strip()
    cli("worker", "--burst")
    for command in (("dlq", "purge"), ("dlq", "retry", "--all")):
        done = cli(*command, input=answer, code=1)
        assert "1 dead job(s) in all queues" in done.stdout and done.stderr.endswith("aborted\n")
    assert json.loads(cli("jobs", "show", failing, "--json").stdout)["status"] == "dead"
    assert "replayed 1 job(s)" in cli("dlq", "retry", "--all", input="y\n").stdout


def _commands(group: click.Group, path: str = "taskheap") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = [(path, group)]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, f"{path} {name}")
        else:
            found.append((f"{path} {name}", command))
    return found


def test_every_command_and_option_has_help() -> None:
    for path, command in _commands(root):
        assert command.help, f"{path} has no help"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{path} {param.opts[-1]} has no help"


def test_every_command_but_demo_takes_app_and_url_after_its_name() -> None:
    for path, command in _commands(root):
        if not isinstance(command, click.Group) and path != "taskheap demo":
            opts = {opt for param in command.params for opt in param.opts}
            assert {"-A", "--app", "--url"} <= opts, path


def test_docs_cli_md_describes_every_command() -> None:
    text = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
    for path, command in _commands(root):
        name = path.removeprefix("taskheap").strip()
        if name and not isinstance(command, click.Group):
            assert f"`{name}" in text, f"docs/cli.md does not describe `{name}`"


def test_jobs_show_prints_a_jobs_headers(cli: Cli) -> None:
    app = cli.app()
    add = app.task(name="tasks.add")(lambda x, y: x + y)
    with_headers = add.options(headers={"tenant": "acme", "trace": "t-1"}).enqueue(1, 2).id
    without = add.enqueue(3, 4).id
    app.close()
    assert '  headers: {"tenant": "acme", "trace": "t-1"}' in cli("jobs", "show", with_headers).stdout
    assert "headers:" not in cli("jobs", "show", without).stdout
    assert json.loads(cli("jobs", "show", with_headers, "--json").stdout)["headers"] == {
        "tenant": "acme",
        "trace": "t-1",
    }


def test_jobs_show_prints_a_jobs_unique_key(cli: Cli) -> None:
    app = cli.app()
    add = app.task(name="tasks.add")(lambda x, y: x + y)
    keyed, plain = add.options(unique_key="sum:3").enqueue(1, 2).id, add.enqueue(3, 4).id
    app.close()
    assert "   unique: sum:3" in cli("jobs", "show", keyed).stdout
    assert "unique:" not in cli("jobs", "show", plain).stdout
    assert json.loads(cli("jobs", "show", keyed, "--json").stdout)["unique_key"] == "sum:3"


def test_dlq_retry_says_when_a_dead_jobs_unique_key_is_held(cli: Cli) -> None:
    app = cli.app()
    add = app.task(name="tasks.add", retries=0)(lambda x, y: x + y)
    dead = add.options(unique_key="sum").enqueue(1, 2).id
    (job,) = app.backend.claim(["default"], "w1", 1, 30.0)
    app.backend.fail([Failure(job.id, job.token, "E", None, None)])
    add.options(unique_key="sum").enqueue(3, 4)
    app.close()
    out = cli("dlq", "retry", dead).stdout
    assert "replayed 0 job(s); 1 left dead: their unique key is held by an active job" in out
