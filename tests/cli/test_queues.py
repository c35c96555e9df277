"""`taskheap queues`: list, pause and resume (never inventing a queue), purge waiting jobs; and
queue names checked at every option that takes one."""

from __future__ import annotations

import json
import subprocess

import pytest

from taskheap.backends.base import Completion, Failure
from tests.cli.conftest import TASKHEAP, Cli
from tests.conftest import wait_for


def listed(cli: Cli) -> dict[str, dict[str, object]]:
    return {q["name"]: q for q in json.loads(cli("queues", "list", "--json").stdout)}


def test_list_shows_every_known_queue_with_counts_pause_and_workers(cli: Cli) -> None:
    cli("enqueue", "add", "--args", "[1, 2]")
    cli("enqueue", "add", "--args", "[1, 2]", "--queue", "bulk", "--delay", "3600")
    cli("queues", "pause", "bulk")
    worker = subprocess.Popen(
        [TASKHEAP, "worker", "--queues", "default,reports"], cwd=cli.cwd, env=cli.env, stderr=subprocess.PIPE
    )
    admin = cli.app().admin
    try:
        wait_for(lambda: admin.workers(), 30, "the worker to register")
        (worker_id,) = (w["id"] for w in admin.workers())
        wait_for(lambda: listed(cli)["default"]["counts"]["succeeded"] == 1, 30, "the job to run")  # type: ignore[index]
        queues = listed(cli)
    finally:
        worker.terminate()
        assert worker.wait(30) == 0
    assert sorted(queues) == ["bulk", "default", "mail", "reports"]  # mail: the app declares it
    assert queues["bulk"] == {
        "name": "bulk",
        "counts": {s: int(s == "scheduled") for s in queues["bulk"]["counts"]},  # type: ignore[union-attr]
        "paused": True,
        "workers": [],
        "limits": None,
    }
    assert queues["default"]["workers"] == queues["reports"]["workers"] == [worker_id]
    assert queues["default"]["paused"] is False and queues["mail"]["workers"] == []
    text = cli("queues", "list").stdout.splitlines()
    assert text[0].split() == ["queue", "paused", *queues["bulk"]["counts"], "workers"]  # type: ignore[misc]
    assert text[1].split() == ["bulk", "yes", "0", "1", "0", "0", "0", "0", "0", "-"]


def test_list_shows_the_limits_at_claim_and_their_load(cli: Cli) -> None:
    app = cli.app()
    app.queue("api", concurrency=5, rate="100/h", group_concurrency=2)  # an hour: the start stays in it
    cli("enqueue", "add", "--args", "[1, 2]", "--queue", "api")
    app.backend.claim(["api"], "w", 10, 30.0)
    limits = listed(cli)["api"]["limits"]
    assert limits == {"concurrency": 5, "rate": "100/h", "group_concurrency": 2, "running": 1, "started": 1}
    text = cli("queues", "list").stdout.splitlines()
    assert text[-2:] == [
        "limits at claim (running/concurrency, starts in the window/rate):",
        "  api      running 1/5, starts 1/100/h, 2 per group",
    ]


def test_limits_shows_and_clears_the_stored_limits_of_one_queue(cli: Cli) -> None:
    app = cli.app()
    app.queue("api", concurrency=5, rate="100/h")  # tasks:app does not declare "api"
    app.queue("mail", concurrency=1)  # tasks:app declares "mail" without limits
    assert app.backend.limited_queues().keys() == {"api", "mail"}
    assert cli("queues", "limits", "api").stdout == "queue 'api': running 0/5, starts 0/100/h\n"
    assert app.backend.limited_queues().keys() == {"api"}, "opening tasks:app cleared mail's"
    assert cli("queues", "limits", "mail").stdout == "queue 'mail': no limits stored\n"
    assert (
        cli("queues", "limits", "api", "--clear").stdout
        == "queue 'api': cleared running 0/5, starts 0/100/h\n"
    )
    assert app.backend.limited_queues() == {}
    again = json.loads(cli("queues", "limits", "api", "--clear", "--json").stdout)
    assert again == {"queue": "api", "limits": None, "cleared": True}
    (cli.cwd / "limited.py").write_text(
        "import taskheap\napp = taskheap.App()\napp.queue('api', concurrency=3)\n"
    )
    done = cli("-A", "limited:app", "queues", "limits", "api", "--clear")
    assert done.stdout == "queue 'api': cleared running 0/3\n"
    assert "limited:app declares limits for 'api': they come back when it opens" in done.stderr
    cli("queues", "limits", "no/such", code=2)
    app.close()


def test_status_shows_the_paused_queues(cli: Cli) -> None:
    cli("enqueue", "add", "--args", "[1, 2]")
    cli("queues", "pause", "default")
    assert "paused: default" in cli("status").stdout.splitlines()
    assert json.loads(cli("status", "--json").stdout)["paused"] == ["default"]


def test_pausing_a_queue_never_seen_is_refused_unless_created(cli: Cli) -> None:
    cli("enqueue", "add", "--args", "[1, 2]")
    done = cli("queues", "pause", "typo", code=2)
    assert (
        done.stderr
        == "error: no queue 'typo'; known: default, mail (--create pauses it before its first job)\n"
    )
    assert "error: no queue 'typo'; known: default, mail" in cli("queues", "resume", "typo", code=2).stderr
    assert "typo" not in listed(cli)
    assert cli("queues", "pause", "typo", "--create").stdout == "paused typo\n"
    assert listed(cli)["typo"]["paused"] is True
    assert cli("queues", "resume", "typo").stdout == "resumed typo\n"


def test_a_queue_the_app_declares_can_be_paused_before_its_first_job(cli: Cli) -> None:
    cli("enqueue", "add", "--args", "[1, 2]")
    cli("queues", "pause", "mail")
    assert listed(cli)["mail"]["paused"] is True
    del cli.env["TASKHEAP_APP"]
    assert cli("queues", "pause", "other", code=2).stderr.startswith(
        "error: no queue 'other'; known: default, mail"
    )


def test_a_paused_queue_is_not_served_until_resumed(cli: Cli) -> None:
    cli("queues", "pause", "default")
    job_id = cli("enqueue", "add", "--args", "[1, 1]").stdout.strip()
    assert json.loads(cli("jobs", "show", job_id, "--json").stdout)["status"] == "queued"
    cli("queues", "resume", "default")
    cli("worker", "--burst")
    assert json.loads(cli("jobs", "show", job_id, "--json").stdout)["status"] == "succeeded"


@pytest.fixture
def waiting(cli: Cli) -> dict[str, list[str]]:
    """In `default`: 3 queued, 2 scheduled, 1 retrying, 1 running, 1 succeeded; 1 queued in mail."""
    app = cli.app()
    add = app.task(name="tasks.add", retries=3)(lambda x, y: x + y)
    ids: dict[str, list[str]] = {"succeeded": [add.enqueue(0, 0).id]}
    backend = app.backend
    (done,) = backend.claim(["default"], "w1", 1, 30.0)
    backend.complete([Completion(done.id, done.token, "0")])
    ids["retrying"] = [add.enqueue(1, 1).id]
    (failed,) = backend.claim(["default"], "w1", 1, 30.0)
    backend.fail([Failure(failed.id, failed.token, "IOError: once", None, 3600.0)])
    ids["running"] = [add.enqueue(2, 2).id]
    backend.claim(["default"], "w1", 1, 30.0)
    ids["queued"] = [add.enqueue(i, i).id for i in range(3)]
    ids["scheduled"] = [add.options(delay=3600).enqueue(i, i).id for i in range(2)]
    ids["mail"] = [add.options(queue="mail").enqueue(9, 9).id]
    app.close()
    return ids


def states(cli: Cli) -> dict[str, str]:
    return {j["id"]: j["status"] for j in json.loads(cli("jobs", "list", "--json").stdout)}


def test_purge_deletes_the_waiting_jobs_of_one_queue_after_a_confirmation(
    cli: Cli, waiting: dict[str, list[str]]
) -> None:
    question = "delete 6 job(s) of queue 'default' (3 queued, 2 scheduled, 1 retrying) for good? [y/N]"
    declined = cli("queues", "purge", "default", input="n\n", code=1)
    assert declined.stdout.startswith(question) and declined.stderr == "aborted\n"
    assert len(states(cli)) == 9
    done = cli("queues", "purge", "default", input="y\n")
    assert done.stdout.startswith(question) and done.stdout.endswith("purged 6 job(s) from queue 'default'\n")
    left = states(cli)
    assert sorted(left) == sorted(waiting["running"] + waiting["succeeded"] + waiting["mail"])
    assert left[waiting["running"][0]] == "running"
    assert cli("queues", "purge", "default").stdout == (
        "nothing to purge: queue 'default' holds no queued or scheduled or retrying job\n"
    )


def test_purge_by_state_deletes_only_that_state(cli: Cli, waiting: dict[str, list[str]]) -> None:
    done = cli("queues", "purge", "default", "--state", "scheduled", "--yes")
    assert done.stdout == "purged 2 job(s) from queue 'default'\n"
    assert not set(waiting["scheduled"]) & set(states(cli)) and len(states(cli)) == 7
    assert "'running' is not one of" in cli("queues", "purge", "default", "--state", "running", code=2).stderr


def test_purge_refuses_an_unknown_queue(cli: Cli, waiting: dict[str, list[str]]) -> None:
    assert (
        cli("queues", "purge", "nope", "--yes", code=2).stderr
        == "error: no queue 'nope'; known: default, mail\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ("worker", "--queues", "a,,b", "--burst"),
        ("worker", "--queues", "a,b c", "--burst"),
        ("enqueue", "add", "--args", "[1, 2]", "--queue", "a/b"),
        ("jobs", "list", "--queue", "a b"),
        ("dlq", "list", "--queue", "a b"),
        ("dlq", "purge", "--queue", "a b"),
        ("dlq", "retry", "--all", "--queue", "a b"),
        ("queues", "pause", "a,b"),
        ("queues", "resume", "a,b"),
        ("queues", "purge", "a,b"),
    ],
    ids=" ".join,
)
def test_queue_names_are_checked_at_every_option(cli: Cli, args: tuple[str, ...]) -> None:
    assert "is not valid: use 1 to 64 of A-Z a-z 0-9 _ . : -" in cli(*args, code=2).stderr


def test_the_worker_serves_each_of_its_comma_separated_queues(cli: Cli) -> None:
    ids = [cli("enqueue", "add", "--args", "[1, 2]", "--queue", q).stdout.strip() for q in ("a", "b")]
    cli("worker", "--queues", "a, b", "--burst")
    assert [states(cli)[i] for i in ids] == ["succeeded", "succeeded"]
