"""Live views: `taskheap top` (terminal) and `taskheap dashboard` (web)."""

from __future__ import annotations

import click

from .context import Env, pass_env


@click.command()
@click.option("--once", is_flag=True, help="Print one plain-text snapshot and exit (for scripts).")
@click.option("--width", default=120, show_default=True, help="With --once: the text width.")
@pass_env
def top(env: Env, once: bool, width: int) -> None:
    """A live full-screen view of queues, workers and failures, with keys to act."""
    from ..dashboard.top import run_top, snapshot_text

    if once:
        click.echo(snapshot_text(env.app.admin, width).rstrip())
    else:
        run_top(env.app.admin)
