"""The `taskheap` command: thin click commands over the App, the admin API and the Worker."""

from __future__ import annotations

import logging
import sys

import click

from ..errors import JobNotFound, TaskheapError
from .context import APP_HELP, URL_HELP, Env, add_store_options, pass_env
from .jobs import dlq, jobs
from .live import dashboard, top
from .queues import queues
from .run import demo, enqueue, migrate, status, worker
from .schedules import schedules

__all__ = ["cli", "main", "pass_env"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="taskheap", message="%(prog)s %(version)s")
@click.option("-A", "--app", "app_path", envvar="TASKHEAP_APP", metavar="MODULE:ATTR", help=APP_HELP)
@click.option("--url", help=URL_HELP)
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
@click.pass_context
def cli(ctx: click.Context, app_path: str | None, url: str | None, verbose: bool) -> None:
    """taskheap: a fast, lossless task queue.

    -A/--app and --url go before or after the command: `taskheap -A jobs:app worker` and
    `taskheap worker -A jobs:app` are the same."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = Env(app_path, url)


for command in (worker, status, enqueue, jobs, dlq, queues, schedules, migrate, top, dashboard):
    add_store_options(command)
    cli.add_command(command)
cli.add_command(demo)  # its own store in a temporary directory


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.UsageError as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except JobNotFound as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except TaskheapError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
