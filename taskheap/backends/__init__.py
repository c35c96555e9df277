"""open_backend(url): the URL scheme picks the backend module, imported only when used."""

from __future__ import annotations

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
    if module_name == "sqlite":
        from .sqlite import SQLiteBackend

        backend: Backend = SQLiteBackend(url)
    else:
        raise ConfigError(f"the {module_name} backend is not available yet (URL {url!r})")
    backend.migrate()
    return backend
