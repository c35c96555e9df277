"""`taskheap enqueue` checks the task and its arguments against the -A app, and `-A` itself
fails in one line per cause."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Cli


def test_a_short_name_resolves_to_the_apps_task_and_takes_its_queue(cli: Cli) -> None:
    job_id = cli("enqueue", "send", "--args", '["a@example.com"]').stdout.strip()
    shown = json.loads(cli("jobs", "show", job_id, "--json").stdout)
    assert (shown["task"], shown["queue"]) == ("tasks.send", "mail")


def test_an_unknown_task_is_refused_and_nothing_is_enqueued(cli: Cli) -> None:
    done = cli("enqueue", "ad", "--args", "[1, 2]", code=2)
    assert done.stderr == "error: unknown task 'ad'; this app defines: tasks.add, tasks.fails, tasks.send\n"
    assert not (cli.cwd / "cli.db").exists()  # the store was not even opened


def test_an_ambiguous_short_name_is_refused(cli: Cli) -> None:
    (cli.cwd / "tasks.py").write_text(
        "import taskheap\napp = taskheap.App()\n"
        "app.task(name='a.add')(lambda: 1)\napp.task(name='b.add')(lambda: 2)\n"
    )
    assert "is ambiguous: it could be a.add, b.add" in cli("enqueue", "add", code=2).stderr


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--args", "[1]"), "missing a required argument: 'y'"),
        (("--args", "[1, 2, 3]"), "too many positional arguments"),
        (("--args", "[1, 2]", "--kwargs", '{"z": 1}'), "got an unexpected keyword argument 'z'"),
    ],
)
def test_arguments_that_do_not_fit_the_signature_are_refused(
    cli: Cli, args: tuple[str, ...], reason: str
) -> None:
    cli("migrate")
    done = cli("enqueue", "add", *args, code=2)
    assert done.stderr == f"error: task 'tasks.add' cannot take these arguments: {reason}\n"
    assert json.loads(cli("jobs", "list", "--json").stdout) == []


def test_without_an_app_the_name_is_enqueued_as_given_with_a_note(cli: Cli) -> None:
    del cli.env["TASKHEAP_APP"]
    done = cli("enqueue", "anything.at.all", "--args", "[1]")
    assert (
        "no app loaded (-A), so the task name 'anything.at.all' and its arguments were not checked"
        in done.stderr
    )
    assert json.loads(cli("jobs", "show", done.stdout.strip(), "--json").stdout)["task"] == "anything.at.all"


def test_arguments_come_from_a_file_or_stdin(cli: Cli) -> None:
    (cli.cwd / "args.json").write_text(json.dumps(["x" * 200_000]))
    from_file = cli("enqueue", "send", "--args", "@args.json").stdout.strip()
    from_stdin = cli("enqueue", "send", "--args", '["b"]', "--kwargs", "-", input='{"subject": "yo"}').stdout
    assert json.loads(cli("jobs", "show", from_file, "--json").stdout)["args"] == ["x" * 200_000]
    assert json.loads(cli("jobs", "show", from_stdin.strip(), "--json").stdout)["kwargs"] == {"subject": "yo"}


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--args", "[1,"), "Invalid value for '--args': not valid JSON"),
        (("--args", '{"x": 1}'), "Invalid value for '--args': must be a JSON list"),
        (("--kwargs", "[]"), "Invalid value for '--kwargs': must be a JSON object"),
        (("--args", "@missing.json"), "Invalid value for '--args': cannot read 'missing.json': No such file"),
        (("--args", "-", "--kwargs", "-"), "Invalid value for '--kwargs': stdin is read already, by --args"),
    ],
)
def test_bad_json_arguments_are_named(cli: Cli, args: tuple[str, ...], reason: str) -> None:
    assert reason in cli("enqueue", "add", *args, input="[1, 2]", code=2).stderr


def test_the_queue_option_takes_only_a_valid_name(cli: Cli) -> None:
    done = cli("enqueue", "add", "--args", "[1, 2]", "--queue", "a,b", code=2)
    assert "queue name 'a,b' is not valid" in done.stderr


APP_ERRORS = [
    (
        "nosuch:app",
        "",
        "cannot load app 'nosuch:app': no module named 'nosuch' (looked in {cwd} and sys.path)",
    ),
    ("broken:app", "import taskheap\napp = taskheap.App(\n", "syntax error at {cwd}/broken.py:2"),
    ("needy:app", "import nosuchlib\n", "importing 'needy' needs 'nosuchlib', which is not installed"),
    (
        "boom:app",
        "raise RuntimeError('no config\\nhere')\n",
        "importing 'boom' raised RuntimeError: no config here",
    ),
    ("tasks:ap", None, "module 'tasks' has no 'ap'; it has the App app"),
    ("tasks:add", None, "cannot load app 'tasks:add': it is a Task, not a taskheap.App"),
    ("tasks", None, "bad app path 'tasks': expected module:attribute"),
]


@pytest.mark.parametrize(("path", "source", "message"), APP_ERRORS, ids=[e[0] for e in APP_ERRORS])
@pytest.mark.parametrize("where", ["before", "after"])
def test_a_bad_app_is_one_line_and_exit_2(
    bare: Cli, path: str, source: str | None, message: str, where: str
) -> None:
    if source:
        (bare.cwd / f"{path.split(':')[0]}.py").write_text(source)
    args = ("-A", path, "status") if where == "before" else ("status", "-A", path)
    done = bare(*args, "--url", bare.url, code=2)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
    assert message.format(cwd=bare.cwd) in done.stderr
    assert not Path(bare.cwd, "cli.db").exists()
