"""The PostgreSQL URL: `postgresql://user@host:5432/db?schema=NAME&pool_size=N&deadline=S`;
`schema`, `pool_size` and `deadline` are taskheap's own options, every other query parameter
goes to libpq."""

from __future__ import annotations

import math
import re
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import ConfigError

DEFAULT_SCHEMA = "taskheap"
DEFAULT_POOL_SIZE = 4
#: Seconds a call may wait for the server's answer before its connection is given up (a silent
#: server whose kernel still acknowledges, which keepalives cannot find: see deadlines.py).
DEFAULT_DEADLINE = 10.0
OWN_OPTIONS = ("schema", "pool_size", "deadline")
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")
#: libpq options a URL may override: a connection to a server that stopped answering (a partition,
#: a host gone) fails within about 10 s instead of waiting out TCP's retransmissions (minutes),
#: well within a lease, so the worker notices, logs it and reconnects.
DEAD_PEER = (
    ("keepalives", "1"),
    ("keepalives_idle", "5"),
    ("keepalives_interval", "2"),
    ("keepalives_count", "3"),
    ("tcp_user_timeout", "10000"),  # milliseconds a sent byte may stay unacknowledged
    ("connect_timeout", "5"),  # seconds for a new connection (psycopg's default is 130)
)


class PostgresURL(NamedTuple):
    conninfo: str  # for libpq
    schema: str
    pool_size: int
    deadline: float  # seconds


def parse_url(url: str) -> PostgresURL:
    """`postgresql://…?schema=NAME&pool_size=N&deadline=S` -> its parts."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigError(f"bad PostgreSQL URL {url!r}: use postgresql://user@host:5432/dbname")
    params = parse_qsl(parts.query, keep_blank_values=True)
    options = {key: value for key, value in params if key in OWN_OPTIONS}
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
    try:
        deadline = float(options.get("deadline", DEFAULT_DEADLINE))
    except ValueError:
        deadline = math.nan
    if not deadline > 0 or math.isinf(deadline):
        raise ConfigError(f"bad PostgreSQL URL {url!r}: deadline must be a number of seconds > 0")
    libpq = [(key, value) for key, value in params if key not in options]
    given = {key for key, _ in libpq}
    defaults = [("application_name", f"taskheap:{schema}"), *DEAD_PEER]
    libpq += [(key, value) for key, value in defaults if key not in given]
    return PostgresURL(urlunsplit(parts._replace(query=urlencode(libpq))), schema, pool_size, deadline)
