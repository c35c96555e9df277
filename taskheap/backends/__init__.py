"""open_backend(url): the URL scheme picks the backend module, imported only when used."""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from .base import Backend

SCHEMES = {
    "sqlite": "sqlite",
    "redis": "redis",
    "rediss": "redis",
    "redis+cluster": "redis",
    "postgres": "postgres",
    "postgresql": "postgres",
}


def open_backend(url: str) -> Backend:
    """Open (and migrate) the backend a URL names; ConfigError for a URL it cannot serve."""
    scheme = urlsplit(url).scheme
    module_name = SCHEMES.get(scheme)
    if module_name is None:
        known = ", ".join(sorted({f"{s}://" for s in SCHEMES}))
        raise ConfigError(f"unknown backend URL {url!r}: the scheme must be one of {known}")
    backend: Backend = _backend_class(module_name)(url)
    backend.migrate()
    return backend


def _backend_class(module_name: str) -> type[Any]:
    if module_name == "sqlite":
        from .sqlite import SQLiteBackend

        return SQLiteBackend
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
    except ImportError as exc:
        extra = "redis" if module_name == "redis" else "postgres"
        raise ConfigError(
            f"the {module_name} backend needs its client library: pip install 'taskheap[{extra}]' ({exc})"
        ) from None
    return getattr(module, f"{module_name.capitalize()}Backend")  # type: ignore[no-any-return]
