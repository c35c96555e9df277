"""Commands over the admin API: jobs, dlq (dead letters), queues."""

from __future__ import annotations

import json

import click

from ..job import JobInfo
from ..views import render_job, render_job_table
from .context import Env, pass_env


@click.group()
def jobs() -> None:
    """List and inspect jobs."""


@jobs.command("list")
@click.option("--queue", help="Only this queue.")
@click.option("--state", help="Only this state (queued, running, dead, ...).")
@click.option("--task", help="Only this task.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_env
def jobs_list(
    env: Env, queue: str | None, state: str | None, task: str | None, limit: int, as_json: bool
) -> None:
    """Newest jobs first."""
    try:
        found = env.app.admin.jobs(queue=queue, state=state, task=task, limit=limit)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    _print_jobs(found, as_json)


@jobs.command("show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True)
@pass_env
def jobs_show(env: Env, job_id: str, as_json: bool) -> None:
    """Everything about one job."""
    _print_job(env, job_id, as_json)


@jobs.command("cancel")
@click.argument("job_id")
@pass_env
def jobs_cancel(env: Env, job_id: str) -> None:
    """Cancel a job that has not started."""
    if not env.app.admin.cancel(job_id):
        raise click.ClickException(f"job {job_id} is running, finished or unknown: not cancelled")
    click.echo(f"cancelled {job_id}")


@click.group()
def dlq() -> None:
    """The dead-letter queue: jobs that exhausted their retries."""


@dlq.command("list")
@click.option("--queue", help="Only this queue.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_env
def dlq_list(env: Env, queue: str | None, limit: int, as_json: bool) -> None:
    """Dead jobs, newest first."""
    _print_jobs(env.app.admin.jobs(queue=queue, state="dead", limit=limit), as_json)


@dlq.command("show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True)
@pass_env
def dlq_show(env: Env, job_id: str, as_json: bool) -> None:
    """One dead job with its last error and traceback."""
    _print_job(env, job_id, as_json)


@dlq.command("retry")
@click.argument("job_id", required=False)
@click.option("--all", "everything", is_flag=True, help="Replay every dead job.")
@click.option("--queue", help="With --all: only this queue.")
@pass_env
def dlq_retry(env: Env, job_id: str | None, everything: bool, queue: str | None) -> None:
    """Replay a dead job (or --all) from scratch."""
    if bool(job_id) == everything:
        raise click.UsageError("give a JOB_ID or --all")
    count = env.app.admin.replay([job_id] if job_id else None, queue=queue)
    if job_id and count == 0:
        raise click.ClickException(f"job {job_id} is not a dead job")
    click.echo(f"replayed {count} job(s)")


@dlq.command("purge")
@click.option("--queue", help="Only this queue.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_env
def dlq_purge(env: Env, queue: str | None, yes: bool) -> None:
    """Delete dead jobs for good."""
    admin = env.app.admin
    count = sum(c["dead"] for q, c in admin.counts().items() if queue in (None, q))
    scope = f"queue {queue!r}" if queue else "all queues"
    if count and not yes:
        click.confirm(f"delete {count} dead job(s) in {scope}?", abort=True)
    click.echo(f"purged {admin.purge(queue=queue)} dead job(s) in {scope}")


@click.group()
def queues() -> None:
    """Pause and resume queues."""


@queues.command("pause")
@click.argument("name")
@pass_env
def queues_pause(env: Env, name: str) -> None:
    """Workers stop claiming from NAME (running jobs finish)."""
    env.app.admin.pause(name)
    click.echo(f"paused {name}")


@queues.command("resume")
@click.argument("name")
@pass_env
def queues_resume(env: Env, name: str) -> None:
    env.app.admin.resume(name)
    click.echo(f"resumed {name}")


def _print_jobs(found: list[JobInfo], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([j.as_dict() for j in found], indent=2))
    else:
        click.echo(render_job_table(found))


def _print_job(env: Env, job_id: str, as_json: bool) -> None:
    job = env.app.admin.job(job_id)
    click.echo(json.dumps(job.as_dict(), indent=2) if as_json else render_job(job))
