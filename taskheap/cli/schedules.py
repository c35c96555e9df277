"""`taskheap schedules list`: the app's periodic jobs, their next fire times and last runs."""

from __future__ import annotations

import json
from typing import Any

import click

from .context import Env, pass_env


@click.group()
def schedules() -> None:
    """The app's periodic jobs (-A)."""


@schedules.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_env
def schedules_list(env: Env, as_json: bool) -> None:
    """Each schedule: its task, cron/every, the next 3 fire times, its last runs, and the fires
    skipped since the oldest run found (past their misfire grace with no job)."""
    env.require_app_path()
    app = env.existing()
    shown = app.admin.schedules(app.schedules.values(), app.clock.now())
    click.echo(json.dumps(shown, indent=2) if as_json else render(shown))


def render(shown: list[dict[str, Any]]) -> str:
    if not shown:
        return "this app declares no schedules"
    lines = []
    for s in shown:
        lines.append(f"{s['name']}  task {s['task']}  {s['when']}")
        lines.append(f"  next: {', '.join(s['next'])}")
        for run in s["last_runs"]:
            lines.append(f"  ran {run['fire']}: job {run['id']} {run['state']}")
        if s["skipped"]:
            lines.append(
                f"  skipped: {s['skipped']} fire(s) since {s['skipped_since']} (misfires, or no worker up)"
            )
    return "\n".join(lines)
