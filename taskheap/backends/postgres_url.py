"""The PostgreSQL URL: `postgresql://user@host:5432/db?schema=NAME&pool_size=N`; `schema` and
`pool_size` are taskheap's own options, every other query parameter goes to libpq."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import ConfigError

DEFAULT_SCHEMA = "taskheap"
DEFAULT_POOL_SIZE = 4
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")


def parse_url(url: str) -> tuple[str, str, int]:
    """`postgresql://…?schema=NAME&pool_size=N` -> (libpq conninfo, schema, pool size)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigError(f"bad PostgreSQL URL {url!r}: use postgresql://user@host:5432/dbname")
    params = parse_qsl(parts.query, keep_blank_values=True)
    options = {key: value for key, value in params if key in ("schema", "pool_size")}
    schema = options.get("schema", DEFAULT_SCHEMA)
    if not _SCHEMA_NAME.fullmatch(schema):
        raise ConfigError(
            f"bad PostgreSQL URL {url!r}: schema must be lower-case letters, digits and _ (at most 40)"
        )
    try:
        pool_size = int(options.get("pool_size", DEFAULT_POOL_SIZE))
    except ValueError:
        pool_size = 0
    if pool_size < 1:
        raise ConfigError(f"bad PostgreSQL URL {url!r}: pool_size must be a whole number >= 1")
    libpq = [(key, value) for key, value in params if key not in options]
    if not any(key == "application_name" for key, _ in libpq):
        libpq.append(("application_name", f"taskheap:{schema}"))
    return urlunsplit(parts._replace(query=urlencode(libpq))), schema, pool_size


def redacted(url: str) -> str:
    """The URL without password or query, for messages."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, "", ""))
