"""The `taskheap` command: thin click commands over the App, the admin API and the Worker."""

from __future__ import annotations

import logging
import sys

import click

from ..errors import TaskheapError
from .context import pass_env
from .jobs import dlq, jobs, queues
from .live import dashboard, top
from .run import demo, enqueue, migrate, status, worker

__all__ = ["cli", "main", "pass_env"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-A",
    "--app",
    "app_path",
    envvar="TASKHEAP_APP",
    metavar="MODULE:ATTR",
    help="The App to use, e.g. myproject.jobs:app (or $TASKHEAP_APP).",
)
@click.option(
    "--url", help="Backend URL (default: the app's, else $TASKHEAP_URL, else sqlite:///taskheap.db)."
)
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
@click.pass_context
def cli(ctx: click.Context, app_path: str | None, url: str | None, verbose: bool) -> None:
    """taskheap: a fast, lossless task queue."""
    from .context import Env

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = Env(app_path, url)


for command in (worker, status, enqueue, jobs, dlq, queues, migrate, top, dashboard, demo):
    cli.add_command(command)


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except TaskheapError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
