"""The SQL of the SQLite backend, and the rows it binds and reads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from ...job import FAILED_ATTEMPTS_KEPT, JobState
from ..base import (
    Cancellation,
    Failure,
    JobQuery,
    JobRecord,
    MinuteCount,
    NewJob,
    Postponement,
    WorkerInfo,
    record_from_columns,
)

#: The payload is read as text whatever it was stored as (a BLOB written by hand, say): the bytes
#: as they are, decoded like all TEXT (`backend._LENIENT_TEXT`), so ClaimedJob.payload and
#: JobRecord.payload are always a str.
PAYLOAD = "CAST(payload AS TEXT)"
RECORD_COLUMNS = (
    f"id, task, queue, priority, state, {PAYLOAD}, attempts, retries, enqueued_at, run_at, "
    "started_at, finished_at, worker, result, error, traceback, meta, unknown_since, unique_key,"
    " progress, progress_at, failed_attempts"
)
CLAIMED_COLUMNS = (
    f"id, task, queue, priority, {PAYLOAD}, attempts, retries, backoff, timeout, token, meta, enqueued_at"
)
UNSTARTED = "expires_at IS NOT NULL AND attempts = 0 AND state IN ('queued', 'scheduled')"  # jobs_expiring's
WAITING = "state IN ('scheduled', 'retrying')"
#: The distinct queue names by a loose index scan: one index probe per queue (then a NULL row).
QUEUE_NAMES = (
    "q(name) AS (SELECT MIN(queue) FROM jobs UNION ALL"
    " SELECT (SELECT MIN(queue) FROM jobs WHERE queue > q.name) FROM q WHERE q.name IS NOT NULL)"
)
#: A TEXT value bound as it was read (`as_stored`): a str, or a BLOB of the bytes it was stored
#: as, which the cast turns back into that TEXT; the primary key index still serves `id = BY_TEXT`.
BY_TEXT = "CAST(? AS TEXT)"
# Maintenance reads name their partial index: the planner would otherwise pick jobs_by_state.
INSERT_SQL = (
    "INSERT INTO jobs (id, task, queue, priority, rank, state, payload, retries, backoff, timeout,"
    " enqueued_at, run_at, meta, expires_at, grp) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
MINUTE_COUNTERS = ("completed", "retried", "dead", "enqueued", "cancelled")  # MinuteCount's, in order
MINUTE_COLUMNS = "minute, queue, task, " + ", ".join(MINUTE_COUNTERS)
ADD_MINUTES_SQL = (
    f"INSERT INTO minutes ({MINUTE_COLUMNS}) VALUES (?,{BY_TEXT},{BY_TEXT},?,?,?,?,?)"
    " ON CONFLICT (minute, queue, task)"
    " DO UPDATE SET completed = completed + excluded.completed, retried = retried + excluded.retried,"
    " dead = dead + excluded.dead, enqueued = enqueued + excluded.enqueued,"
    " cancelled = cancelled + excluded.cancelled"
)
#: A failed run: the new state, and the attempt appended to the log (the oldest one dropped when
#: the log is full; removing path `$[#]`, past the end, removes nothing).
FAIL_SQL = (
    "UPDATE jobs SET state = :state, run_at = :retry_at, finished_at = :finished_at, error = :error,"
    " traceback = :traceback, token = NULL, lease_until = NULL, failed_attempts = json_remove("
    "json_insert(failed_attempts, '$[#]', json_object('attempt', attempts, 'error', :error,"
    " 'traceback', :traceback, 'worker', worker, 'finished_at', :now)),"
    " CASE WHEN json_array_length(failed_attempts) >= :kept THEN '$[0]' ELSE '$[#]' END)"
    " WHERE id = CAST(:id AS TEXT) AND token = :token AND state = 'running' AND cancel_requested_at IS NULL"
)
#: A claimed job given back unrun: scheduled, its attempt not spent (as a release), and the first
#: give-back for an unknown task kept in `unknown_since`.
POSTPONE_SQL = (
    "UPDATE jobs SET state = 'scheduled', run_at = :now + :delay, attempts = attempts - 1,"
    " token = NULL, lease_until = NULL, worker = NULL,"
    " unknown_since = CASE WHEN :unknown_task THEN COALESCE(unknown_since, :now) ELSE unknown_since END"
    " WHERE id = CAST(:id AS TEXT) AND token = :token AND state = 'running' AND cancel_requested_at IS NULL"
)
#: A claimed job cancelled: finished, the reason its error, its attempts and log as they are.
CANCEL_CLAIMED_SQL = (
    "UPDATE jobs SET state = 'cancelled', error = :reason, traceback = NULL, finished_at = :now,"
    " run_at = NULL, token = NULL, lease_until = NULL"
    " WHERE id = CAST(:id AS TEXT) AND token = :token AND state = 'running'"
)
#: The registry: a worker's first columns in `workers`, the rest in `worker_details` (schema.py
#: says why); a worker of an earlier version has no details, read as WorkerInfo's defaults.
REGISTER_SQL = (
    "INSERT OR REPLACE INTO workers (id, host, pid, queues, concurrency, started_at, last_seen, jobs)"
    " VALUES (?,?,?,?,?,?,?,?)"
)
REGISTER_DETAILS_SQL = (
    "INSERT OR REPLACE INTO worker_details (id, tasks, lease, processed, per_minute) VALUES (?,?,?,?,?)"
)
WORKERS_SQL = (
    "SELECT w.id, host, pid, queues, concurrency, started_at, last_seen, jobs, tasks, lease, processed,"
    " per_minute FROM workers AS w LEFT JOIN worker_details AS d ON d.id = w.id ORDER BY started_at"
)
FORGET_DETAILS_SQL = "DELETE FROM worker_details WHERE id NOT IN (SELECT id FROM workers)"
#: How many jobs of a queue wait (queued, scheduled, retrying): a range count of the covering
#: index by (queue, state), O(that many); a limited queue's enqueue runs it in its transaction.
WAITING_IN_QUEUE_SQL = (
    "SELECT count(*) FROM jobs INDEXED BY jobs_by_queue_state"
    " WHERE queue = ? AND state IN ('queued', 'scheduled', 'retrying')"
)
PROMOTE_SQL = (
    f"UPDATE jobs INDEXED BY jobs_due SET state = 'queued', run_at = NULL WHERE {WAITING} AND run_at <= ?"
)
#: Unstarted waiting jobs past their expiry, cancelled "expired" (?1 now, ?2 limit).
EXPIRE_DUE_SQL = (
    "UPDATE jobs SET state = 'cancelled', error = 'expired', finished_at = ?1, run_at = NULL"
    f" WHERE rowid IN (SELECT rowid FROM jobs INDEXED BY jobs_expiring WHERE {UNSTARTED}"
    " AND expires_at <= ?1 LIMIT ?2) RETURNING id, queue, task"
)
EXPIRED_SQL = (
    f"SELECT {CLAIMED_COLUMNS} FROM jobs INDEXED BY jobs_leases WHERE state = 'running' AND lease_until < ?"
    " ORDER BY lease_until LIMIT ?"
)


#: A claim's lease (?1 now, ?2 lease expiry, ?3 worker) and what it returns (rank first).
CLAIM_SET = (
    "UPDATE jobs SET state = 'running', attempts = attempts + 1, token = lower(hex(randomblob(8))),"
    " lease_until = ?2, worker = ?3, started_at = ?1"
)
CLAIM_RETURNING = f"RETURNING rank, id, {CLAIMED_COLUMNS}, IFNULL(attempts = 1 AND expires_at <= ?1, 0)"


@lru_cache(maxsize=64)
def claim_sql(queue_count: int) -> str:
    """Claim across queues: each queue's best ?4 from its index, merged, the best ?4 kept.

    Parameters: ?1 now, ?2 lease expiry, ?3 worker, ?4 limit, ?5… the queues.
    """
    per_queue = " UNION ALL ".join(
        f"SELECT * FROM (SELECT rowid AS r, rank, id FROM jobs WHERE queue = ?{5 + n}"
        " AND state = 'queued' ORDER BY rank, id LIMIT ?4)"
        for n in range(queue_count)
    )
    picked = f"SELECT r FROM ({per_queue}) ORDER BY rank, id LIMIT ?4"
    return f"{CLAIM_SET} WHERE rowid IN ({picked}) {CLAIM_RETURNING}"


def replay_sql(source: str, select: str | None = None) -> str:
    """Dead and retrying jobs of `source` (a `matching` FROM source) queued now: a dead job from
    scratch (attempts, worker, unknown_since and expiry cleared), a retrying one as it is; a
    cancel request that came too late for the run it was made for is forgotten by either. A dead
    job whose unique key another active job holds stays dead (OR IGNORE skips the rows the
    jobs_unique index refuses). With `select`, the SELECT of those columns of the jobs it would
    replay instead. Parameters: those of `source`, then the limit."""
    chosen = f"SELECT id FROM (SELECT id, state FROM {source}) WHERE state IN ('dead', 'retrying') LIMIT ?"
    if select is not None:
        return f"SELECT {select} FROM jobs WHERE id IN ({chosen})"
    return (
        "UPDATE OR IGNORE jobs SET state = 'queued', run_at = NULL, finished_at = NULL,"
        " attempts = CASE state WHEN 'dead' THEN 0 ELSE attempts END,"
        " worker = CASE state WHEN 'dead' THEN NULL ELSE worker END,"
        " unknown_since = CASE state WHEN 'dead' THEN NULL ELSE unknown_since END,"
        " expires_at = CASE state WHEN 'dead' THEN NULL ELSE expires_at END"
        f" WHERE id IN ({chosen})"
    )


def matching(query: JobQuery) -> tuple[str, list[Any]]:
    """A FROM source of the jobs matching `query`; with `text`, only among the `scan` newest
    jobs passing the other filters."""
    where, params = _where(query)
    if query.text is None:
        return f"jobs {where}", params
    scan = -1 if query.scan is None else query.scan  # LIMIT -1: no limit
    return (
        f"(SELECT * FROM jobs {where} ORDER BY id DESC LIMIT ?) WHERE instr(payload, ?) > 0",
        [*params, scan, query.text],
    )


def insert_rows(jobs: Sequence[NewJob], shift: float) -> list[tuple[Any, ...]]:
    """The INSERT_SQL rows, enqueued_at, run_at and expires_at moved by `shift` seconds (onto the store's
    clock). Ranks stay: a strict queue's is the priority, an aging one's orders by the
    producer's clock."""
    return [
        (
            j.id,
            j.task,
            j.queue,
            j.priority,
            j.rank,
            JobState.QUEUED if j.run_at is None else JobState.SCHEDULED,
            j.payload,
            j.retries,
            j.backoff,
            j.timeout,
            j.enqueued_at + shift,
            None if j.run_at is None else j.run_at + shift,
            j.meta,
            None if j.expires_at is None else j.expires_at + shift,
            j.group,
        )
        for j in jobs
    ]


def _where(query: JobQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if query.ids is not None:
        clauses.append(f"id IN ({','.join('?' * len(query.ids))})")
        params.extend(query.ids)
    filters = (
        ("queue = ?", query.queue),
        ("state = ?", query.state),
        ("task = ?", query.task),
        ("id < ?", query.before),
        ("id > ?", query.after),
    )
    for clause, value in filters:
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def as_stored(text: str) -> str | bytes:
    """A TEXT value to bind in a write-back (compared or stored through BY_TEXT): the text, or,
    when it holds lone surrogates (bytes that were not UTF-8, read leniently from a row written
    by hand), the bytes it was read from, which sqlite3 could not bind as text."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")
    return text


def fail_params(failure: Failure, now: float) -> dict[str, Any]:
    return {
        "id": as_stored(failure.id),
        "token": failure.token,
        "state": JobState.DEAD if failure.retry_in is None else JobState.RETRYING,
        "retry_at": None if failure.retry_in is None else now + failure.retry_in,
        "finished_at": now if failure.retry_in is None else None,
        "error": failure.error,
        "traceback": failure.traceback,
        "now": now,
        "kept": FAILED_ATTEMPTS_KEPT,
    }


def cancel_params(item: Cancellation, now: float) -> dict[str, Any]:
    return {"id": as_stored(item.id), "token": item.token, "reason": item.reason, "now": now}


def postpone_params(item: Postponement, now: float) -> dict[str, Any]:
    return {
        "id": as_stored(item.id),
        "token": item.token,
        "now": now,
        "delay": item.delay,
        "unknown_task": item.unknown_task,
    }


def worker_rows(worker: WorkerInfo, now: float) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The REGISTER_SQL and REGISTER_DETAILS_SQL rows of a heartbeat at `now`."""
    first = (
        worker.id,
        worker.host,
        worker.pid,
        json.dumps(worker.queues),
        worker.concurrency,
        worker.started_at,
        now,
        json.dumps(worker.jobs),
    )
    return first, (worker.id, json.dumps(worker.tasks), worker.lease, worker.processed, worker.per_minute)


def worker_of(row: Sequence[Any], now: float) -> WorkerInfo:
    """A WORKERS_SQL row as read at `now` (the store's clock): silent since its last heartbeat."""
    worker_id, host, pid, queues, concurrency, started_at, last_seen, jobs, *details = row
    worker = WorkerInfo(worker_id, host, pid, json.loads(queues), concurrency, started_at, last_seen)
    worker.jobs, worker.silent_for = json.loads(jobs), max(0.0, now - last_seen)
    tasks, lease, processed, per_minute = details
    if tasks is not None:  # None: registered by an earlier version, without details
        worker.tasks = json.loads(tasks)
        worker.lease, worker.processed, worker.per_minute = lease, processed, per_minute
    return worker


def minute_rows(rows: Sequence[MinuteCount]) -> list[tuple[Any, ...]]:
    return [
        (r.minute, as_stored(r.queue), as_stored(r.task), *(getattr(r, c) for c in MINUTE_COUNTERS))
        for r in rows
    ]


def record_of(row: Sequence[Any]) -> JobRecord:
    *columns, failed_attempts = row
    return record_from_columns(columns, json.loads(failed_attempts))
