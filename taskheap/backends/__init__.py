"""open_backend(url): the URL scheme picks the backend, whose module is imported only when used."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from ..errors import ConfigError
from .protocols import FullBackend


def _sqlite(url: str) -> FullBackend:
    from .sqlite import SQLiteBackend

    return SQLiteBackend(url)


def _redis(url: str) -> FullBackend:
    try:
        from .redis import RedisBackend
    except ImportError as exc:
        raise _missing("redis", exc) from None
    return RedisBackend(url)


def _postgres(url: str) -> FullBackend:
    try:
        from .postgres import PostgresBackend
    except ImportError as exc:
        raise _missing("postgres", exc) from None
    return PostgresBackend(url)


def _missing(extra: str, exc: ImportError) -> ConfigError:
    install = f"pip install 'taskheap[{extra}]'"
    return ConfigError(f"the {extra} backend needs its client library: {install} ({exc})")


SCHEMES: dict[str, Callable[[str], FullBackend]] = {
    "sqlite": _sqlite,
    "redis": _redis,
    "rediss": _redis,
    "redis+cluster": _redis,
    "postgres": _postgres,
    "postgresql": _postgres,
}


def open_backend(url: str) -> FullBackend:
    """Open (and migrate) the backend a URL names; ConfigError for a URL it cannot serve."""
    opener = SCHEMES.get(urlsplit(url).scheme)
    if opener is None:
        known = ", ".join(sorted({f"{s}://" for s in SCHEMES}))
        raise ConfigError(f"unknown backend URL {url!r}: the scheme must be one of {known}")
    backend = opener(url)
    backend.migrate()
    return backend
