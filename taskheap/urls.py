"""Store URLs as people see them (logs, errors, banners): never a password, never a secret."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

SECRET_KEYS = ("password", "token", "secret", "key")


def redacted(url: str, *, query: bool = True) -> str:
    """The URL with its password shown as ***; its query kept, with the value of every key named
    like a secret shown as ***, or with `query=False` dropped (an error message needs only where
    the store is)."""
    parts = urlsplit(url)
    if parts.password:
        url = url.replace(f":{parts.password}@", ":***@", 1)
    base, _, rest = url.partition("?")
    if not query:
        return base
    pairs = parse_qsl(rest, keep_blank_values=True)
    if not any(_secret(key) for key, _ in pairs):
        return url
    return base + "?" + urlencode([(key, "***" if _secret(key) else value) for key, value in pairs], safe="*")


def _secret(key: str) -> bool:
    return any(word in key.lower() for word in SECRET_KEYS)
