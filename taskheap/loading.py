"""Find the App a command names: `module:attribute`, with the current directory importable.

Each way it can fail is one ConfigError line: a bad path, a module that is not there, a syntax
error (file:line), an error raised while importing, a missing attribute, something not an App.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from .app import App


def load_app(path: str) -> App:
    from .app import App

    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"bad app path {path!r}: expected module:attribute, e.g. myproject.jobs:app")
    module = _import(module_name, path)
    app = getattr(module, attribute, None)
    if app is None:
        apps = sorted(name for name, value in vars(module).items() if isinstance(value, App))
        found = f"; it has the App {', '.join(apps)}" if apps else "; it defines no taskheap.App"
        raise ConfigError(f"cannot load app {path!r}: module {module_name!r} has no {attribute!r}{found}")
    if not isinstance(app, App):
        raise ConfigError(f"cannot load app {path!r}: it is a {type(app).__name__}, not a taskheap.App")
    return app


def _import(module_name: str, path: str) -> ModuleType:
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        if module_name == missing or module_name.startswith(missing + "."):
            reason = f"no module named {missing!r} (looked in {here} and sys.path)"
        else:
            reason = f"importing {module_name!r} needs {missing!r}, which is not installed"
    except SyntaxError as exc:
        reason = f"syntax error at {exc.filename}:{exc.lineno}: {exc.msg}"
    except Exception as exc:
        reason = f"importing {module_name!r} raised {type(exc).__name__}: {' '.join(str(exc).split())}"
    raise ConfigError(f"cannot load app {path!r}: {reason}")
