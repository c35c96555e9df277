"""`taskheap queues`: list the known queues, pause and resume them, purge their waiting jobs,
show or clear the limits at claim the store holds for one."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from ..admin import WAITING_TO_RUN, QueueInfo
from ..backends.queue_limits import QueueLimits
from ..errors import UnknownQueue
from ..job import ALL_STATES
from .context import CliError, Env, confirm, pass_env
from .params import queue_name

WAITING_STATES = [str(s) for s in ALL_STATES if s in WAITING_TO_RUN]


@click.group()
def queues() -> None:
    """List queues; pause, resume and purge one; show or clear its limits."""


@queues.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_env
def queues_list(env: Env, as_json: bool) -> None:
    """Every known queue: its jobs by state, paused or not, the workers serving it, and its
    limits at claim with their load (running/concurrency, starts in the window/rate)."""
    found = env.existing().admin.queues(env.declared_queues)
    if as_json:
        click.echo(json.dumps([q.as_dict() for q in found], indent=2))
    else:
        click.echo(render_queues(found))


@queues.command("pause")
@click.argument("name", callback=queue_name)
@click.option("--create", is_flag=True, help="Pause NAME even if the store has never seen it.")
@pass_env
def queues_pause(env: Env, name: str, create: bool) -> None:
    """Workers stop claiming from NAME (running jobs finish)."""
    declared = env.declared_queues
    app = env.app if create or name in declared else env.existing()
    try:
        app.admin.pause(name, create=create, declared=declared)
    except UnknownQueue as exc:
        raise CliError(f"{exc} (--create pauses it before its first job)") from None
    click.echo(f"paused {name}")
    env.note_default_store()


@queues.command("resume")
@click.argument("name", callback=queue_name)
@pass_env
def queues_resume(env: Env, name: str) -> None:
    """Workers claim from NAME again."""
    env.existing().admin.resume(name, create=False, declared=env.declared_queues)
    click.echo(f"resumed {name}")
    env.note_default_store()


@queues.command("purge")
@click.argument("name", callback=queue_name)
@click.option(
    "--state",
    type=click.Choice(WAITING_STATES),
    help="Only jobs in this state (default: every job that has not started).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_env
def queues_purge(env: Env, name: str, state: str | None, yes: bool) -> None:
    """Delete NAME's jobs that have not started yet, for good (running jobs stay); asks first,
    with the exact count."""
    admin = env.existing().admin
    queue = next((q for q in admin.queues(env.declared_queues) if q.name == name), None)
    if queue is None:
        known = ", ".join(admin.queue_names(env.declared_queues)) or "none"
        raise CliError(f"no queue {name!r}; known: {known}")
    states = [state] if state else WAITING_STATES
    counts = {s: queue.counts.get(s, 0) for s in states}
    total = sum(counts.values())
    if not total:
        click.echo(f"nothing to purge: queue {name!r} holds no {' or '.join(states)} job")
        return
    if not yes:
        detail = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        confirm(f"delete {total} job(s) of queue {name!r} ({detail}) for good?")
    click.echo(f"purged {admin.purge_waiting(name, states)} job(s) from queue {name!r}")
    env.note_default_store()


@queues.command("limits")
@click.argument("name", callback=queue_name)
@click.option("--clear", is_flag=True, help="Drop the limits the store holds for NAME.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_env
def queues_limits(env: Env, name: str, clear: bool, as_json: bool) -> None:
    """The limits at claim the store holds for NAME, with its load; with --clear, drop them (for
    a queue whose limits no App declares any more: an App that declares limits for NAME stores
    them again when it opens)."""
    admin = env.existing().admin
    held = admin.clear_limits(name) if clear else admin.limited_queues().get(name)
    if as_json:
        click.echo(json.dumps({"queue": name, "limits": asdict(held) if held else None, "cleared": clear}))
    elif held is None:
        click.echo(f"queue {name!r}: no limits stored")
    else:
        click.echo(f"queue {name!r}: {'cleared ' if clear else ''}{held.describe()}")
    if clear and held is not None and env.app_path and env.app.declared_limits.get(name, QueueLimits()).any:
        click.echo(
            f"note: {env.app_path} declares limits for {name!r}: they come back when it opens", err=True
        )
    if clear:
        env.note_default_store()


def render_queues(found: list[QueueInfo]) -> str:
    if not found:
        return "(no queues)"
    width = max(5, *(len(q.name) for q in found))
    states = [str(s) for s in ALL_STATES]
    lines = [f"{'queue':<{width}}  paused  " + "  ".join(states) + "  workers"]
    for q in found:
        cells = "  ".join(f"{q.counts.get(s, 0):>{len(s)}}" for s in states)
        paused = "yes" if q.paused else "no"
        lines.append(f"{q.name:<{width}}  {paused:<6}  {cells}  {', '.join(q.workers) or '-'}")
    limited = [q for q in found if q.limits is not None]
    if limited:
        lines.append("")
        lines.append("limits at claim (running/concurrency, starts in the window/rate):")
        lines += [f"  {q.name:<{width}}  {q.limits.describe()}" for q in limited if q.limits is not None]
    return "\n".join(lines)
