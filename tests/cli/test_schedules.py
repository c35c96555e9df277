"""`taskheap schedules list`: definitions, next fire times and last runs, as text and JSON."""

from __future__ import annotations

import json

import taskheap
from taskheap.worker.scheduler import Scheduler
from tests.cli.conftest import Cli

PERIODIC = """
import taskheap

app = taskheap.App()

@app.periodic(cron="0 8 * * mon", tz="Europe/Paris", name="rollup")
def rollup():
    pass
"""


def test_list_shows_each_schedule_with_its_next_fires_and_last_runs(cli: Cli) -> None:
    (cli.cwd / "periodic.py").write_text(PERIODIC)
    cli.env["TASKHEAP_APP"] = "periodic:app"
    app = taskheap.App(cli.url)
    app.periodic(cron="0 8 * * mon", tz="Europe/Paris", name="rollup", misfire_grace=8 * 24 * 3600)(
        lambda: None
    )
    assert Scheduler(app, app.schedules).run_once(app.clock.now()) == 1  # last Monday's fire
    app.close()
    [shown] = json.loads(cli("schedules", "list", "--json").stdout)
    assert (shown["name"], shown["task"], shown["when"]) == (
        "rollup",
        "rollup",
        "cron 0 8 * * mon (Europe/Paris)",
    )
    assert len(shown["next"]) == 3 and all(
        t.endswith(("T06:00:00+00:00", "T07:00:00+00:00")) for t in shown["next"]
    )
    [run] = shown["last_runs"]
    assert run["state"] == "queued" and run["fire"] < shown["next"][0]
    assert f"job {run['id']} queued" in cli("schedules", "list").stdout
    assert (shown["skipped"], shown["skipped_since"]) == (0, run["fire"])
