"""Run one claimed job's function and turn whatever happens into an Outcome."""

from __future__ import annotations

import traceback as tb
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..codec import decode_payload, encode_result
from ..errors import PayloadError


class Outcome(NamedTuple):
    result: str | None = None  # JSON of the return value, when it succeeded
    error: str | None = None
    traceback: str | None = None
    final: bool = False  # True: retrying cannot help (unknown task, bad payload): dead at once

    @property
    def ok(self) -> bool:
        return self.error is None


def run_job(tasks: Mapping[str, Any], task_name: str, payload: str) -> Outcome:
    task = tasks.get(task_name)
    if task is None:
        return Outcome(error=f"unknown task {task_name!r}: this worker's app does not define it", final=True)
    try:
        args, kwargs = decode_payload(payload)
    except PayloadError as exc:
        return Outcome(error=str(exc), final=True)
    try:
        value = task.fn(*args, **kwargs)
    except Exception as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}", traceback=tb.format_exc())
    try:
        return Outcome(result=encode_result(value))
    except TypeError as exc:
        return Outcome(error=str(exc), final=True)
