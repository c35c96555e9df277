"""Option callbacks the commands share: queue names (one, or a comma-separated list), and JSON
arguments given inline, as `@file.json` or as `-` (stdin). Each failure is a click usage error
naming the option (exit 2)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..job import ALL_STATES, check_queue_name

STATE = click.Choice([str(state) for state in ALL_STATES])


def queue_name(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A queue name, checked as enqueue checks it (check_queue_name)."""
    if value is None:
        return None
    try:
        return check_queue_name(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param=param) from None


def queue_list(_ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    """Comma-separated queue names, each checked: `a,b` is two queues, never one named `a,b`."""
    try:
        return [check_queue_name(name.strip()) for name in value.split(",")]
    except ValueError as exc:
        message = f"{exc} (in {value!r}, names are separated by commas)"
        raise click.BadParameter(message, param=param) from None


def json_list(ctx: click.Context, param: click.Parameter, value: str) -> list[Any]:
    parsed = _json(ctx, param, value)
    if not isinstance(parsed, list):
        raise click.BadParameter("must be a JSON list", param=param)
    return parsed


def json_object(ctx: click.Context, param: click.Parameter, value: str) -> dict[str, Any]:
    parsed = _json(ctx, param, value)
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object", param=param)
    return parsed


def _json(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    try:
        return json.loads(_text(ctx, param, value))
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param=param) from None


def _text(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """The option's text: inline, from the file after `@`, or stdin for `-` (one option only)."""
    if value == "-":
        reader = ctx.meta.setdefault("taskheap.stdin", param.name)
        if reader != param.name:
            raise click.BadParameter(f"stdin is read already, by --{reader}", param=param)
        return sys.stdin.read()
    if value.startswith("@"):
        try:
            return Path(value[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise click.BadParameter(f"cannot read {value[1:]!r}: {reason}", param=param) from None
    return value
