"""Which store a command uses: the ones that only read never create one, and the ones that write
say so when they wrote to the implicit default."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Cli

ID = "01NOSUCHJOB0000000000000000"
READS = [
    ("status",),
    ("status", "--json"),
    ("jobs", "list"),
    ("jobs", "show", ID),
    ("dlq", "list"),
    ("dlq", "show", ID),
    ("queues", "list"),
    ("top", "--once"),
    ("dashboard", "--port", "1"),
]
ACTS_ON_STORED_JOBS = [
    ("jobs", "cancel", ID),
    ("dlq", "retry", ID),
    ("dlq", "purge", "--yes"),
    ("queues", "pause", "other"),
    ("queues", "resume", "default"),
    ("queues", "purge", "default", "--yes"),
]
NO_STORE = (
    "error: no store: ./taskheap.db does not exist here; give --url URL, set $TASKHEAP_URL,"
    " or -A an app that names its store\n"
)


@pytest.mark.parametrize("command", READS + ACTS_ON_STORED_JOBS, ids=" ".join)
def test_without_a_store_a_command_over_stored_jobs_says_so_and_creates_none(
    bare: Cli, command: tuple[str, ...]
) -> None:
    assert bare(*command, code=2).stderr == NO_STORE
    assert bare("-A", "tasks:app", *command, code=2).stderr == NO_STORE
    assert [p.name for p in bare.cwd.iterdir() if p.name not in ("tasks.py", "__pycache__")] == []


@pytest.mark.parametrize("command", READS, ids=" ".join)
def test_a_named_sqlite_file_that_does_not_exist_is_not_created_by_a_read(
    bare: Cli, command: tuple[str, ...]
) -> None:
    missing = bare.cwd / "typo.db"
    done = bare("--url", f"sqlite:///{missing}", *command, code=2)
    assert done.stderr == f"error: no store at sqlite:///{missing}: {missing} does not exist\n"
    assert not missing.exists()


def test_the_default_store_in_the_directory_is_read(bare: Cli) -> None:
    job_id = bare("-A", "tasks:app", "enqueue", "add", "--args", "[1, 2]").stdout.strip()
    assert job_id in bare("jobs", "list").stdout


def test_a_write_to_the_implicit_default_store_names_it(bare: Cli) -> None:
    where = f"the default store sqlite:///taskheap.db ({bare.cwd / 'taskheap.db'})"
    done = bare("-A", "tasks:app", "enqueue", "add", "--args", "[1, 2]")
    assert f"note: wrote to {where}\n" in done.stderr and Path(bare.cwd, "taskheap.db").exists()
    assert f"note: using {where}\n" in bare("-A", "tasks:app", "worker", "--burst").stderr
    assert f"note: wrote to {where}\n" == bare("queues", "pause", "default").stderr


def test_a_write_to_a_named_store_adds_no_note(cli: Cli) -> None:
    assert cli("enqueue", "add", "--args", "[1, 2]").stderr == ""
    assert cli("queues", "pause", "default").stderr == ""
    bare_url = cli.env.pop("TASKHEAP_URL")
    assert cli("--url", bare_url, "queues", "resume", "default").stderr == ""
