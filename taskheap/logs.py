"""The worker's logs: the standard `logging` module, as text or as one JSON object per line.

`configure(level, fmt)` installs one handler on the root logger (the CLI calls it). Records about
a job carry its fields as `extra=job_fields(job)`: `job_id`, `task`, `queue`, `attempt`, which the
JSON format writes as keys of their own and the text format appends as `key=value`. The worker
that logs is named by `bind_worker(id)` (one worker per process). A payload is never logged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from typing import Any, Protocol

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
JOB_FIELDS = ("job_id", "task", "queue", "attempt")
#: Other `extra` keys written as fields of their own (where a record has them).
DETAIL_FIELDS = ("error", "retry_at", "delay")

_worker: str | None = None


class AboutAJob(Protocol):
    id: str
    task: str
    queue: str
    attempts: int


def job_fields(job: AboutAJob, **details: Any) -> dict[str, Any]:
    """The `extra` of a record about `job`, with any DETAIL_FIELDS."""
    return {"job_id": job.id, "task": job.task, "queue": job.queue, "attempt": job.attempts, **details}


def bind_worker(worker_id: str | None) -> None:
    """Name the worker of this process in every record from now on (None: no worker)."""
    global _worker
    _worker = worker_id


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: getattr(record, key) for key in (*JOB_FIELDS, *DETAIL_FIELDS) if hasattr(record, key)}


class JsonFormatter(logging.Formatter):
    """`{"ts": ..., "level": ..., "event": ..., "logger": ..., "worker": ..., "job_id": ...}`;
    the traceback of a record that has one as `exc`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "logger": record.name,
        }
        if _worker is not None:
            entry["worker"] = _worker
        entry.update(_fields(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """`2026-12-01 14:42:42,123 INFO taskheap.worker: job failed ... job_id=… task=…`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        if not fields:
            return line
        head, newline, rest = line.partition("\n")  # a traceback stays below the line
        tail = " ".join(f"{key}={value}" for key, value in fields.items() if key != "error")
        return f"{head}  [{tail}]{newline}{rest}"


def configure(level: str = "info", fmt: str | None = None) -> None:
    """One handler on the root logger at `level`, in `fmt` (None: $TASKHEAP_LOG_FORMAT, else
    text); replaces any earlier configuration."""
    fmt = fmt or os.environ.get("TASKHEAP_LOG_FORMAT", "text")
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
