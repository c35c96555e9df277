"""Live views: `taskheap top` (terminal) and `taskheap dashboard` (web)."""

from __future__ import annotations

import sys

import click

from .context import CliError, Env, pass_env


@click.command()
@click.option("--once", is_flag=True, help="Print one plain-text snapshot and exit (for scripts).")
@click.option(
    "--width", type=click.IntRange(min=40), default=120, show_default=True, help="With --once: the width."
)
@pass_env
def top(env: Env, once: bool, width: int) -> None:
    """A live full-screen view of queues, running jobs, workers and failures, with keys to act."""
    from ..dashboard.top import run_top, snapshot_text

    if not once and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise CliError("taskheap top needs a terminal; use `taskheap top --once` for a plain snapshot")
    admin = env.existing().admin
    if once:
        click.echo(snapshot_text(admin, width).rstrip())
    else:
        run_top(admin)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", type=click.IntRange(min=1, max=65535), default=8000, show_default=True, help="Port to serve on."
)
@click.option("--read-only", is_flag=True, help="Show everything, change nothing.")
@click.option(
    "--auth-token",
    envvar="TASKHEAP_DASHBOARD_TOKEN",
    help="Require a token: `Authorization: Bearer TOKEN`, or the login form in a browser"
    " (or $TASKHEAP_DASHBOARD_TOKEN).",
)
@click.option(
    "--basic-auth",
    envvar="TASKHEAP_DASHBOARD_BASIC_AUTH",
    metavar="USER:PASSWORD",
    help="Require HTTP basic auth (or $TASKHEAP_DASHBOARD_BASIC_AUTH).",
)
@click.option("--insecure-no-auth", is_flag=True, help="Allow a non-loopback bind without auth.")
@pass_env
def dashboard(
    env: Env,
    host: str,
    port: int,
    read_only: bool,
    auth_token: str | None,
    basic_auth: str | None,
    insecure_no_auth: bool,
) -> None:
    """Serve the web dashboard (and /metrics) with uvicorn."""
    import uvicorn

    from ..dashboard.security import Auth, is_loopback
    from ..dashboard.web import create_app

    try:
        auth = Auth(auth_token, basic_auth) if auth_token or basic_auth else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if auth is None and not is_loopback(host) and not insecure_no_auth:
        raise click.UsageError(
            f"refusing to serve {host} without auth: give --auth-token or --basic-auth"
            " (or --insecure-no-auth if something else guards it)"
        )
    app = env.existing()
    uvicorn.run(create_app(app, auth=auth, read_only=read_only), host=host, port=port, log_level="info")
