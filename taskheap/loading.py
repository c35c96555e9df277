"""Find the App a command names: `module:attribute`, with the current directory importable."""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from .app import App


def load_app(path: str) -> App:
    from .app import App

    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"bad app path {path!r}: expected module:attribute, e.g. myproject.jobs:app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r} for app {path!r}: {exc}") from None
    app = getattr(module, attribute, None)
    if not isinstance(app, App):
        raise ConfigError(f"{path!r} is not a taskheap.App (found {type(app).__name__})")
    return app
