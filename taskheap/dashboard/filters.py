"""Job filters in the URL: parsed into the admin API's JobFilter, and written back into links."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from urllib.parse import urlencode

from ..admin import JobFilter
from ..job import ALL_STATES, JobState

FIELDS = ("queue", "state", "task", "since", "until", "search")
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class BadFilter(ValueError):
    pass


def parse_time(text: str, now: float) -> float:
    """`15m`, `2h`, `7d` ago, or an ISO date/time (local time unless it names a zone)."""
    if match := _RELATIVE.fullmatch(text):
        return now - float(match[1]) * _UNIT[match[2]]
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise BadFilter(f"bad time {text!r}: use e.g. 15m, 2h, 7d or 2026-01-31T12:00") from None


def parse_filter(params: Mapping[str, str], now: float) -> JobFilter:
    values = {name: params.get(name, "").strip() or None for name in FIELDS}
    state = values["state"]
    if state is not None and state not in ALL_STATES:
        raise BadFilter(f"unknown state {state!r}")
    since, until = values["since"], values["until"]
    return JobFilter(
        queue=values["queue"],
        state=JobState(state) if state else None,
        task=values["task"],
        since=parse_time(since, now) if since else None,
        until=parse_time(until, now) if until else None,
        search=values["search"],
    )


def kept(params: Mapping[str, str], **changes: str | None) -> str:
    """The filter fields of `params` with `changes`, as a query string (empty ones dropped)."""
    values = {name: params.get(name, "") for name in (*FIELDS, "before")} | changes
    return urlencode({k: v for k, v in values.items() if v})


def scope(params: Mapping[str, str]) -> str:
    """The filter in words, for confirmations: 'queue=emails, task=send' or 'every job'."""
    words = [f"{name}={params[name]}" for name in FIELDS if params.get(name)]
    return ", ".join(words) or "every job"
