"""Commands over stored jobs: jobs (list, show, cancel) and dlq (the dead letters)."""

from __future__ import annotations

import json

import click

from ..app import App
from ..errors import JobNotFound
from ..job import JobInfo, JobState
from ..views import render_job, render_job_table
from .context import Env, NotThere, confirm, pass_env
from .params import STATE, queue_name

LIMIT_HELP = "At most this many jobs."
JSON_HELP = "Print JSON instead of text."


@click.group()
def jobs() -> None:
    """List and inspect jobs."""


@jobs.command("list")
@click.option("--queue", callback=queue_name, help="Only this queue.")
@click.option("--state", type=STATE, help="Only this state.")
@click.option("--task", help="Only this task (its full name).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help=LIMIT_HELP)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@pass_env
def jobs_list(
    env: Env, queue: str | None, state: str | None, task: str | None, limit: int, as_json: bool
) -> None:
    """Newest jobs first."""
    _print_jobs(env.existing().admin.jobs(queue=queue, state=state, task=task, limit=limit), as_json)


@jobs.command("show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@pass_env
def jobs_show(env: Env, job_id: str, as_json: bool) -> None:
    """Everything about one job: arguments, timings, result, every failed attempt."""
    _print_job(found(env.existing(), job_id), as_json)


@jobs.command("cancel")
@click.argument("job_id")
@pass_env
def jobs_cancel(env: Env, job_id: str) -> None:
    """Cancel a job that has not started; for a running one, ask its worker to stop it."""
    app = env.existing()
    job = found(app, job_id)
    if not app.admin.cancel(job_id):
        raise NotThere(f"job {job_id} is {app.admin.job(job_id).status}: not cancelled")
    if app.admin.job(job_id).status == "running":
        click.echo(f"cancel requested for {job.id}: running, its worker stops it")
    else:
        click.echo(f"cancelled {job.id}")
    env.note_default_store()


@click.group()
def dlq() -> None:
    """The dead-letter queue: jobs that exhausted their retries."""


@dlq.command("list")
@click.option("--queue", callback=queue_name, help="Only this queue.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help=LIMIT_HELP)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@pass_env
def dlq_list(env: Env, queue: str | None, limit: int, as_json: bool) -> None:
    """Dead jobs, newest first."""
    _print_jobs(env.existing().admin.jobs(queue=queue, state=JobState.DEAD, limit=limit), as_json)


@dlq.command("show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@pass_env
def dlq_show(env: Env, job_id: str, as_json: bool) -> None:
    """One dead job with every failed attempt and its traceback."""
    _print_job(dead(env.existing(), job_id), as_json)


@dlq.command("retry")
@click.argument("job_id", required=False)
@click.option("--all", "everything", is_flag=True, help="Replay every dead job (asks first).")
@click.option("--queue", callback=queue_name, help="With --all: only this queue.")
@click.option("--yes", is_flag=True, help="With --all: do not ask for confirmation.")
@pass_env
def dlq_retry(env: Env, job_id: str | None, everything: bool, queue: str | None, yes: bool) -> None:
    """Replay a dead job (or --all) from scratch: queued again, attempts reset."""
    if bool(job_id) == everything:
        raise click.UsageError("give a JOB_ID or --all")
    if queue and not everything:
        raise click.UsageError("--queue goes with --all")
    app = env.existing()
    if job_id:
        count = app.admin.replay([dead(app, job_id).id])
    else:
        scope = _scope(queue)
        waiting = _dead_count(app, queue)
        if waiting and not yes:
            confirm(f"replay {waiting} dead job(s) in {scope}?")
        count = app.admin.replay(queue=queue)
    held = f"; {count.held} left dead: their unique key is held by an active job" if count.held else ""
    click.echo(f"replayed {count} job(s){held}")
    env.note_default_store()


@dlq.command("purge")
@click.option("--queue", callback=queue_name, help="Only this queue.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_env
def dlq_purge(env: Env, queue: str | None, yes: bool) -> None:
    """Delete dead jobs for good (asks first, with the exact count)."""
    app = env.existing()
    count, scope = _dead_count(app, queue), _scope(queue)
    if count and not yes:
        confirm(f"delete {count} dead job(s) in {scope} for good?")
    click.echo(f"purged {app.admin.purge(queue=queue)} dead job(s) in {scope}")
    env.note_default_store()


def found(app: App, job_id: str) -> JobInfo:
    try:
        return app.admin.job(job_id)
    except JobNotFound:
        raise NotThere(f"job {job_id} not found") from None


def dead(app: App, job_id: str) -> JobInfo:
    job = found(app, job_id)
    if job.status != JobState.DEAD:
        raise NotThere(f"job {job_id} is not dead, it is {job.status} (taskheap jobs show {job_id})")
    return job


def _dead_count(app: App, queue: str | None) -> int:
    return sum(c["dead"] for q, c in app.admin.counts().items() if queue in (None, q))


def _scope(queue: str | None) -> str:
    return f"queue {queue!r}" if queue else "all queues"


def _print_jobs(found: list[JobInfo], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([j.as_dict() for j in found], indent=2))
    else:
        click.echo(render_job_table(found))


def _print_job(job: JobInfo, as_json: bool) -> None:
    click.echo(json.dumps(job.as_dict(), indent=2) if as_json else render_job(job))
