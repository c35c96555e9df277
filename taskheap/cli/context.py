"""What every command needs: the App, found from -A/--app or --url, opened once."""

from __future__ import annotations

from dataclasses import dataclass, field

import click

from ..app import App
from ..loading import load_app


@dataclass
class Env:
    app_path: str | None
    url: str | None
    _app: App | None = field(default=None, repr=False)

    @property
    def app(self) -> App:
        """The -A app when given (its URL unless --url overrides), else an App on --url."""
        if self._app is None:
            if self.app_path:
                self._app = load_app(self.app_path)
                if self.url and self.url != self._app.url:
                    self._app.url = self.url
            else:
                self._app = App(self.url)
        return self._app

    def require_app_path(self) -> str:
        if not self.app_path:
            raise click.UsageError(
                "this command runs task code: give -A module:attribute (or set TASKHEAP_APP)"
            )
        return self.app_path


pass_env = click.make_pass_decorator(Env)
