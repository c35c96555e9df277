"""The wire format: the inbox entries an enqueue pushes (ingest in lua/lib.lua decodes them),
the claim script's ARGV, lease tokens, the registry's JSON, and the records parsed from the
scripts' replies."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, fields
from json.encoder import encode_basestring as _quote  # Lua's cjson reads UTF-8 as is
from typing import Any

from ...job import FailedAttempt, JobState
from ..base import ClaimedJob, JobRecord, NewJob, WorkerInfo

CLAIMED_FIELDS = 13
INBOX = "inbox"  # the list of wire version 1 entries, which idle workers block on
INBOX_V2 = "inbox:v2"  # wire version 2 entries: kept off INBOX, where older workers would misread them
INBOX_V3 = "inbox:v3"  # wire version 3 entries (jobs with an expiry), kept off the lists older workers read
INBOX_V4 = "inbox:v4"  # wire version 4 entries (jobs with a group), kept off the lists older workers read
COUNTERS = ("completed", "retried", "dead", "enqueued", "cancelled")  # MinuteCount's, as COUNTERS in lib.lua
#: The WorkerInfo fields of the registry's first JSON (`Keys.workers`); those a heartbeat writes
#: beside them go to `Keys.worker_details`; last_seen is the score of `Keys.seen`.
WORKER_FIELDS = ("id", "host", "pid", "queues", "concurrency", "started_at", "jobs")
_READ = {f.name for f in fields(WorkerInfo)} - {"last_seen", "silent_for"}


def inbox_entries(jobs: Sequence[NewJob]) -> dict[tuple[str, str], list[str]]:
    """Per (queue, list), its jobs as inbox entries (see lib.lua), each in the lowest wire format
    version that expresses it: version 1, a JSON array of 11 strings (floats in repr, exact), on
    INBOX, for a job without meta (None or '') or expiry; version 2, `[2, ` those 11 strings,
    meta`]`, on INBOX_V2, for one with meta; version 3, `[3, ` those 11 strings, meta ('' for
    none), expires_at`]`, on INBOX_V3, for one with an expiry; version 4, `[4, ` those 11
    strings, meta ('' for none), expires_at ('' for none), group`]`, on INBOX_V4, for one with a
    group (queues' group_concurrency: a worker before version 4 would run it unbounded, and
    drop its group were it to read it). Workers before a version never
    read its list, so they neither misread nor lose those: a newer worker ingests them. Spelled
    out rather than run through an encoder (ids and numbers need no escaping, the other strings
    go through the encoder's own quoting). All but the id, the payload and the meta is usually
    the same for a batch's jobs: spelled once per distinct set."""
    by_list: dict[tuple[str, str], list[str]] = {}
    spelled: dict[tuple[Any, ...], tuple[str, str]] = {}
    for j in jobs:
        shared = (
            j.task,
            j.queue,
            j.priority,
            j.rank,
            j.enqueued_at,
            j.run_at,
            j.retries,
            j.backoff,
            j.timeout,
        )
        parts = spelled.get(shared)
        if parts is None:
            parts = spelled[shared] = (
                f'",{_quote(j.task)},{_quote(j.queue)},"{j.priority}","{j.rank!r}",',
                f',"{j.enqueued_at!r}","{num(j.run_at)}","{j.retries}",{_quote(j.backoff or "")},'
                f'"{num(j.timeout)}"]',
            )
        head, tail = parts
        if j.group is not None:
            meta, group = _quote(j.meta or ""), _quote(j.group)
            entry = f'[4,"{j.id}{head}{_quote(j.payload)}{tail[:-1]},{meta},"{num(j.expires_at)}",{group}]'
            by_list.setdefault((j.queue, INBOX_V4), []).append(entry)
        elif j.expires_at is not None:
            meta = _quote(j.meta or "")
            entry = f'[3,"{j.id}{head}{_quote(j.payload)}{tail[:-1]},{meta},"{num(j.expires_at)}"]'
            by_list.setdefault((j.queue, INBOX_V3), []).append(entry)
        elif not j.meta:
            by_list.setdefault((j.queue, INBOX), []).append(f'["{j.id}{head}{_quote(j.payload)}{tail}')
        else:
            entry = f'[2,"{j.id}{head}{_quote(j.payload)}{tail[:-1]},{_quote(j.meta)}]'
            by_list.setdefault((j.queue, INBOX_V2), []).append(entry)
    return by_list


def claim_calls(shares: dict[str, int], worker: str, lease: float, now: float | None) -> dict[str, list[str]]:
    """Per queue, the claim script's ARGV but the token suffix (fresh for every call)."""
    return {queue: [num(now), repr(float(lease)), worker, str(share)] for queue, share in shares.items()}


def num(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def token_suffix(queue: str) -> str:
    return f".{os.urandom(8).hex()}@{queue}"


def queue_of(token: str) -> str | None:
    _, at, queue = token.partition("@")
    return queue if at else None


def claimed(fields: list[Any], queue: str) -> list[tuple[float, ClaimedJob]]:
    """(rank, job) from a claim or expired script's flat reply. Never raises on a field: the job
    is claimed by then, and a hash written by hand may hold anything, so a number that does not
    parse is handed on as the text it was, which the worker refuses (`runner.refusal`), making
    the job dead with the reason; its neighbours in the reply are untouched."""
    jobs = []
    for start in range(0, len(fields), CLAIMED_FIELDS):
        (
            job_id,
            task,
            priority,
            payload,
            attempts,
            retries,
            backoff,
            timeout,
            token,
            rank,
            meta,
            enqueued_at,
            past,
        ) = fields[start : start + CLAIMED_FIELDS]
        job = ClaimedJob(
            job_id,
            task,
            queue,
            _parsed(int, priority),
            payload,
            _parsed(int, attempts),
            _parsed(int, retries),
            backoff or None,
            _opt_parsed(timeout),
            token,
            meta or None,
            _parsed(float, enqueued_at),
            past == "1",
        )
        rank_value = _parsed(float, rank)
        jobs.append((rank_value if isinstance(rank_value, float) else math.inf, job))
    return jobs


def _parsed(kind: type[int] | type[float], text: Any) -> Any:
    """`kind(text)`, or the text itself when it does not parse (see `claimed`)."""
    try:
        return kind(text)
    except (TypeError, ValueError):
        return text


def job_record(fields: dict[str, str]) -> JobRecord:
    """A job's hash as a record. A number that does not parse (a hash edited by hand) is shown
    as the text it is, as `claimed` hands it on, rather than failing the whole read."""
    return JobRecord(
        id=fields["id"],
        task=fields["task"],
        queue=fields["queue"],
        priority=_parsed(int, fields["priority"]),
        state=JobState(fields["state"]),
        payload=fields["payload"],
        attempts=_parsed(int, fields["attempts"]),
        retries=_parsed(int, fields["retries"]),
        enqueued_at=_parsed(float, fields["enqueued_at"]),
        run_at=_opt_parsed(fields.get("run_at")),
        started_at=_opt_parsed(fields.get("started_at")),
        finished_at=_opt_parsed(fields.get("finished_at")),
        worker=fields.get("worker"),
        result=fields.get("result"),
        error=fields.get("error"),
        traceback=fields.get("traceback"),
        meta=fields.get("meta"),
        unknown_since=_opt_parsed(fields.get("unknown_since")),
        unique_key=fields.get("unique_key"),
        progress=fields.get("progress"),
        progress_at=_opt_parsed(fields.get("progress_at")),
    )


def _opt_parsed(text: str | None) -> Any:
    return None if text is None or text == "" else _parsed(float, text)


def failed_attempt(entry: str) -> FailedAttempt:
    fields = json.loads(entry)
    return FailedAttempt(
        attempt=fields["attempt"],
        error=fields["error"],
        traceback=fields["traceback"],
        worker=fields["worker"],
        finished_at=float(fields["finished_at"]),
    )


def worker_json(worker: WorkerInfo) -> tuple[str, str]:
    """The worker's JSON for `Keys.workers` (WORKER_FIELDS) and for `Keys.worker_details` (the
    fields written beyond them; silent_for and last_seen are not written)."""
    info = asdict(worker)
    first = {name: info.pop(name) for name in WORKER_FIELDS}
    del info["last_seen"], info["silent_for"]
    return json.dumps(first), json.dumps(info)


def registered(reply: list[Any]) -> list[WorkerInfo]:
    """The workers of the workers script's reply by start time, each silent for the seconds
    since its last heartbeat by the server's clock (never below 0). A worker of an earlier
    version has no details (WorkerInfo's defaults); fields a later version may add are left
    out; a worker with no last-seen time (being forgotten) is not listed."""
    now, infos, details, seen = reply
    last_seen = {worker_id: float(at) for worker_id, at in zip(seen[::2], seen[1::2], strict=True)}
    extra = dict(zip(details[::2], details[1::2], strict=True))
    workers = []
    for worker_id, info in zip(infos[::2], infos[1::2], strict=True):
        if worker_id in last_seen:
            stored = {**json.loads(extra.get(worker_id, "{}")), **json.loads(info)}
            known = {name: value for name, value in stored.items() if name in _READ}
            worker = WorkerInfo(**known, last_seen=last_seen[worker_id])
            worker.silent_for = max(0.0, float(now) - worker.last_seen)
            workers.append(worker)
    return sorted(workers, key=lambda w: w.started_at)
