"""What every command needs: the App (from -A/--app, or an App on --url), and which store it
stands on. A command that acts on stored jobs opens the store only if it exists (`existing`); a
command that writes says so when the store is the implicit default (`note_default_store`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import click

from ..app import DEFAULT_URL, App
from ..backends.sqlite import parse_path
from ..loading import load_app


class CliError(click.ClickException):
    """A one-line refusal of bad input: exit 2."""

    exit_code = 2


class NotThere(click.ClickException):
    """What was asked for is not there (an unknown job id, a job not dead): exit 1."""

    exit_code = 1


@dataclass
class Env:
    app_path: str | None
    url: str | None
    _app: App | None = field(default=None, repr=False)

    @property
    def app(self) -> App:
        """The -A app when given (its URL unless --url overrides), else an App on --url. Its
        store is opened on first use."""
        if self._app is None:
            if self.app_path:
                self._app = load_app(self.app_path)
                if self.url and self.url != self._app.url:
                    self._app.url = self.url
            else:
                self._app = App(self.url)
        return self._app

    @property
    def implicit_store(self) -> bool:
        """Whether the store is the default nobody named (no --url, $TASKHEAP_URL or app URL)."""
        return self.app.url == DEFAULT_URL and not self.url and not os.environ.get("TASKHEAP_URL")

    def existing(self) -> App:
        """The App, for a command over jobs already stored: a SQLite file that does not exist is
        refused (exit 2) rather than created empty."""
        app = self.app
        if app.url.startswith("sqlite:"):
            path, _ = parse_path(app.url)
            if not os.path.exists(path):
                if self.implicit_store:
                    raise CliError(
                        f"no store: ./{path} does not exist here; give --url URL,"
                        " set $TASKHEAP_URL, or -A an app that names its store"
                    )
                raise CliError(f"no store at {app.url}: {os.path.abspath(path)} does not exist")
        return app

    def note_default_store(self, done: str = "wrote to") -> None:
        """One line on stderr naming the store when it is the implicit default: after a write,
        or as a worker starts."""
        if self.implicit_store:
            where = os.path.abspath(parse_path(DEFAULT_URL)[0])
            click.echo(f"note: {done} the default store {DEFAULT_URL} ({where})", err=True)

    @property
    def declared_queues(self) -> set[str]:
        """The queues the -A app names (its tasks' and its configured ones); none without -A."""
        if not self.app_path:
            return set()
        app = self.app
        return {task.defaults.queue for task in app.tasks.values()} | set(app.queues)

    def require_app_path(self) -> str:
        if not self.app_path:
            raise click.UsageError(
                "this command runs task code: give -A module:attribute (or set TASKHEAP_APP)"
            )
        return self.app_path


pass_env = click.make_pass_decorator(Env)


def confirm(question: str) -> None:
    """Ask; anything but yes (an answer of no, end of input, ^C) prints "aborted" and exits 1."""
    try:
        agreed = click.confirm(question, default=False)
    except click.Abort:
        agreed = False
        click.echo(err=True)
    if not agreed:
        click.echo("aborted", err=True)
        raise click.exceptions.Exit(1)


# -A/--app and --url are accepted after the subcommand as well (`taskheap worker -A jobs:app`).
def _set_app_path(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_object(Env).app_path = value  # type: ignore[union-attr]


def _set_url(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_object(Env).url = value  # type: ignore[union-attr]


APP_HELP = "The App to use, e.g. myproject.jobs:app (or $TASKHEAP_APP)."
URL_HELP = "Backend URL (default: the app's, else $TASKHEAP_URL, else sqlite:///taskheap.db)."


def store_options() -> list[click.Option]:
    """Fresh -A/--app and --url options for one subcommand; they set the group's Env."""
    return [
        click.Option(
            ["-A", "--app"], metavar="MODULE:ATTR", help=APP_HELP, callback=_set_app_path, expose_value=False
        ),
        click.Option(["--url"], help=URL_HELP, callback=_set_url, expose_value=False),
    ]


def add_store_options(command: click.Command) -> None:
    """Give every leaf command under `command` the -A/--app and --url options."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_store_options(sub)
    elif not any(param.name in ("app", "url") for param in command.params):
        command.params.extend(store_options())
