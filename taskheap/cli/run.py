"""Commands that run or feed work: worker, enqueue, migrate, status, demo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from ..errors import UnknownTask
from ..logs import FORMATS, LEVELS
from ..logs import configure as configure_logs
from ..task import JobOptions, JobSpec
from ..worker import Worker
from ..worker.async_pool import ASYNC_CONCURRENCY
from ..worker.tally import Observer
from ..worker.unknown import DEFAULT_TTL
from .context import CliError, Env, pass_env
from .params import json_list, json_object, queue_list, queue_name


@click.command()
@click.option(
    "-c", "--concurrency", type=click.IntRange(min=1), default=4, show_default=True, help="Jobs run at once."
)
@click.option(
    "--async-concurrency",
    type=click.IntRange(min=1),
    default=ASYNC_CONCURRENCY,
    show_default=True,
    help="async def tasks' coroutines run at once on the worker's event loop (beside --concurrency).",
)
@click.option(
    "-q",
    "--queues",
    metavar="NAME,...",
    callback=queue_list,
    default="default",
    show_default=True,
    help="Comma-separated queues to serve, in order.",
)
@click.option(
    "--pool",
    type=click.Choice(["thread", "process"]),
    default="thread",
    show_default=True,
    help="process: each slot a child process, killed on timeout.",
)
@click.option(
    "--prefetch",
    type=click.IntRange(min=0),
    default=None,
    help="Jobs to claim ahead of free slots. Default: as many as recent run times say will"
    " start within 20 ms (many for tiny jobs, none for slow ones); 0: never.",
)
@click.option(
    "--burst",
    is_flag=True,
    help="Exit 0 once the queues hold no active job (or only jobs of tasks this app does not define).",
)
@click.option(
    "--no-schedules",
    is_flag=True,
    help="Do not fire the app's periodic jobs (the other workers do).",
)
@click.option(
    "--unknown-task-ttl",
    type=click.FloatRange(min=0),
    default=DEFAULT_TTL,
    show_default=True,
    help="Seconds a job of a task this app does not define is given back for another worker"
    " before it becomes dead, when no live worker of its queue defines the task.",
)
@click.option(
    "--grace",
    default=30.0,
    show_default=True,
    help="Seconds running jobs get to finish after SIGTERM/SIGINT.",
)
@click.option(
    "--cancel-grace",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds a process-pool job has to return after a cancel request before its child is killed.",
)
@click.option(
    "--log-level",
    type=click.Choice(LEVELS),
    default="info",
    show_default=True,
    help="info: the start, every failure, retry, dead letter and timeout, lost leases, outages and"
    " a graceful stop's progress; debug adds each job's start and finish and tracebacks.",
)
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    envvar="TASKHEAP_LOG_FORMAT",
    default="text",
    show_default=True,
    help="json: one object per line (ts, level, event, worker; job_id, task, queue, attempt"
    " where there is a job). Or $TASKHEAP_LOG_FORMAT.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(min=1, max=65535),
    help="Serve Prometheus /metrics on 127.0.0.1:PORT (needs the dashboard extra).",
)
@pass_env
def worker(
    env: Env,
    concurrency: int,
    async_concurrency: int,
    queues: list[str],
    pool: str,
    prefetch: int | None,
    burst: bool,
    no_schedules: bool,
    unknown_task_ttl: float,
    grace: float,
    cancel_grace: float,
    log_level: str,
    log_format: str,
    metrics_port: int | None,
) -> int:
    """Run a worker process."""
    configure_logs(log_level, log_format)
    app_path = env.require_app_path()
    env.note_default_store("using")
    with _metrics(env, metrics_port) as observer:
        return Worker(
            env.app,
            queues=queues,
            concurrency=concurrency,
            async_concurrency=async_concurrency,
            pool=pool,
            app_path=app_path,
            prefetch=prefetch,
            burst=burst,
            schedules=not no_schedules,
            unknown_task_ttl=unknown_task_ttl,
            grace=grace,
            cancel_grace=cancel_grace,
            observer=observer,
        ).run()


@contextmanager
def _metrics(env: Env, port: int | None) -> Iterator[Observer | None]:
    if port is None:
        yield None
        return
    from ..metrics import serve_worker_metrics

    try:
        observer, server = serve_worker_metrics(env.app.admin, port)
    except OSError as exc:
        raise click.ClickException(f"cannot serve metrics on 127.0.0.1:{port}: {exc}") from None
    try:
        yield observer
    finally:
        server.shutdown()


@click.command()
@click.argument("task")
@click.option(
    "--args",
    metavar="JSON|@FILE|-",
    callback=json_list,
    default="[]",
    help="JSON list of positional arguments; @FILE reads a file, - reads stdin.",
)
@click.option(
    "--kwargs",
    metavar="JSON|@FILE|-",
    callback=json_object,
    default="{}",
    help="JSON object of keyword arguments; @FILE reads a file, - reads stdin.",
)
@click.option("--priority", type=int, help="0..1000, lower runs first (default: the task's).")
@click.option("--delay", type=float, help="Seconds before the job is due.")
@click.option("--queue", callback=queue_name, help="Queue name (default: the task's, else 'default').")
@pass_env
def enqueue(
    env: Env,
    task: str,
    args: list[Any],
    kwargs: dict[str, Any],
    priority: int | None,
    delay: float | None,
    queue: str | None,
) -> None:
    """Enqueue a job of TASK; prints its id.

    With an app (-A), TASK is one of its tasks (a short name such as `add` for `tasks.add`
    when only one fits) and the arguments must fit its signature; otherwise nothing is
    enqueued. Without one, TASK is enqueued as given, unchecked."""
    app = env.app
    if env.app_path:
        try:
            known = app.task_named(task)
        except UnknownTask as exc:
            raise CliError(str(exc)) from None
        name, options = known.name, known.defaults
    else:
        name, options = task, JobOptions()
    overrides = {
        k: v for k, v in (("priority", priority), ("delay", delay), ("queue", queue)) if v is not None
    }
    try:
        handle = app.enqueue(JobSpec(name, tuple(args), kwargs, options.with_overrides(overrides)))
    except (TypeError, ValueError) as exc:
        raise CliError(str(exc)) from None
    click.echo(handle.id)
    if not env.app_path:
        unchecked = f"the task name {name!r} and its arguments were not checked"
        click.echo(f"note: no app loaded (-A), so {unchecked}", err=True)
    env.note_default_store()


@click.command()
@pass_env
def migrate(env: Env) -> None:
    """Create or upgrade the backend's schema (also done on first use); safe to repeat."""
    app = env.app
    app.backend.migrate()
    click.echo(f"schema up to date: {app.url}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the stats as JSON.")
@pass_env
def status(env: Env, as_json: bool) -> None:
    """Counts per queue and state, the paused queues, the live workers."""
    stats = env.existing().stats()
    if as_json:
        click.echo(json.dumps(stats, indent=2))
        return
    from ..views import render_status

    click.echo(render_status(stats))


@click.command()
@click.option(
    "--jobs", "job_count", type=click.IntRange(min=1), default=200, show_default=True, help="How many jobs."
)
@click.option(
    "--workers",
    "worker_count",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Worker processes.",
)
@click.option("--plain", is_flag=True, help="Plain progress lines even on a terminal.")
def demo(job_count: int, worker_count: int, plain: bool) -> None:
    """A live simulation on embedded SQLite in a temp dir: priorities, retries, dead letters."""
    from ..demo.run import run_demo

    run_demo(job_count=job_count, worker_count=worker_count, plain=plain)
