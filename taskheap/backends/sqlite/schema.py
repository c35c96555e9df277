"""The SQLite schema as numbered migrations: `PRAGMA user_version` counts those applied.

Adding a field is a new entry at the end (an `ALTER TABLE ... ADD COLUMN`, an index), never an
edit of an applied one; `SQLiteBackend.migrate` applies the missing ones in one transaction.
"""

from __future__ import annotations

from ...job import UNIQUE_STATES_SQL

MIGRATIONS = (
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        task TEXT NOT NULL,
        queue TEXT NOT NULL,
        priority INTEGER NOT NULL,
        rank REAL NOT NULL,
        state TEXT NOT NULL,
        payload TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        retries INTEGER NOT NULL,
        backoff TEXT,
        timeout REAL,
        enqueued_at REAL NOT NULL,
        run_at REAL,
        started_at REAL,
        finished_at REAL,
        lease_until REAL,
        token TEXT,
        worker TEXT,
        result TEXT,
        error TEXT,
        traceback TEXT
    );
    CREATE INDEX jobs_runnable ON jobs (queue, rank, id) WHERE state = 'queued';
    CREATE INDEX jobs_due ON jobs (run_at) WHERE state IN ('scheduled', 'retrying');
    CREATE INDEX jobs_leases ON jobs (lease_until) WHERE state = 'running';
    CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state IN ('succeeded', 'cancelled');
    CREATE INDEX jobs_by_queue_state ON jobs (queue, state, id);
    CREATE TABLE queues (name TEXT PRIMARY KEY, paused INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE workers (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        queues TEXT NOT NULL,
        concurrency INTEGER NOT NULL,
        started_at REAL NOT NULL,
        last_seen REAL NOT NULL,
        jobs TEXT NOT NULL
    );
    """,
    """
    CREATE INDEX jobs_by_state ON jobs (state, id);
    CREATE INDEX jobs_by_queue ON jobs (queue, id);
    CREATE INDEX jobs_queued_priority ON jobs (queue, priority) WHERE state = 'queued';
    CREATE TABLE minutes (
        minute INTEGER NOT NULL,
        queue TEXT NOT NULL,
        task TEXT NOT NULL,
        completed INTEGER NOT NULL DEFAULT 0,
        retried INTEGER NOT NULL DEFAULT 0,
        dead INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (minute, queue, task)
    ) WITHOUT ROWID;
    """,
    """
    ALTER TABLE jobs ADD COLUMN failed_attempts TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE minutes ADD COLUMN enqueued INTEGER NOT NULL DEFAULT 0;
    """,
    """
    ALTER TABLE jobs ADD COLUMN meta TEXT;
    """,
    # The store's clock (clock.py): the wall clock's reading at an instant of this boot.
    """
    CREATE TABLE clock (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        boot_id TEXT NOT NULL,
        offset REAL NOT NULL,
        anchored_at REAL NOT NULL
    );
    """,
    # When a worker first gave a job back for not knowing its task (`postpone`); and what a
    # heartbeat records of its worker beyond the first columns, in a table of its own: the
    # heartbeat of earlier versions fills `workers` by position, so a column added there would
    # fail every heartbeat of such a worker still running beside this version's.
    """
    ALTER TABLE jobs ADD COLUMN unknown_since REAL;
    CREATE TABLE worker_details (
        id TEXT PRIMARY KEY,
        tasks TEXT NOT NULL,
        lease REAL NOT NULL,
        processed INTEGER NOT NULL,
        per_minute INTEGER NOT NULL
    );
    """,
    """
    ALTER TABLE minutes ADD COLUMN cancelled INTEGER NOT NULL DEFAULT 0;
    """,
    # When a job expires unless started (NULL: never), and the unstarted waiting jobs by it.
    """
    ALTER TABLE jobs ADD COLUMN expires_at REAL;
    CREATE INDEX jobs_expiring ON jobs (expires_at)
        WHERE expires_at IS NOT NULL AND attempts = 0 AND state IN ('queued', 'scheduled');
    """,
    # Unique jobs (unique.py): the key a job was enqueued with; without a window (unique_for
    # NULL) it is held by the job while active, through the partial unique index; a window's
    # holder is recorded in unique_windows, which outlives the job.
    f"""
    ALTER TABLE jobs ADD COLUMN unique_key TEXT;
    ALTER TABLE jobs ADD COLUMN unique_for REAL;
    CREATE UNIQUE INDEX jobs_unique ON jobs (queue, unique_key)
        WHERE unique_key IS NOT NULL AND unique_for IS NULL AND state IN {UNIQUE_STATES_SQL};
    CREATE TABLE unique_windows (
        queue TEXT NOT NULL,
        key TEXT NOT NULL,
        job_id TEXT NOT NULL,
        held_until REAL NOT NULL,
        PRIMARY KEY (queue, key)
    ) WITHOUT ROWID;
    CREATE INDEX unique_windows_ending ON unique_windows (held_until);
    """,
    # Migration 10 (9 is unique jobs'): limits at claim (limits.py). A job's group; the running
    # jobs per (queue, group), which a limited claim counts; the limits each queue holds; the
    # starts of queues with a rate, by time (the sliding window, trimmed by the claim).
    """
    ALTER TABLE jobs ADD COLUMN grp TEXT;
    CREATE INDEX jobs_running ON jobs (queue, grp) WHERE state = 'running';
    CREATE TABLE queue_limits (
        name TEXT PRIMARY KEY,
        concurrency INTEGER,
        rate INTEGER,
        period REAL,
        group_concurrency INTEGER,
        started INTEGER NOT NULL DEFAULT 0  -- its rows in queue_starts (kept by the claim)
    );
    CREATE TABLE queue_starts (queue TEXT NOT NULL, at REAL NOT NULL);
    CREATE INDEX queue_starts_by_time ON queue_starts (queue, at);
    """,
    # Migration 11: when a cancel was asked of the job while it ran (NULL: never): its worker polls for it;
    # and the progress its run last reported (JSON), with when the store took it.
    """
    ALTER TABLE jobs ADD COLUMN cancel_requested_at REAL;
    ALTER TABLE jobs ADD COLUMN progress TEXT;
    ALTER TABLE jobs ADD COLUMN progress_at REAL;
    """,
    # Migration 12: queue_starts holds a row per claim with its number of starts `n`, not a row
    # per started job (limits.py writes one row a claim and trims few); the rows already there,
    # a start each, merged per (queue, at): the window holds the same starts.
    """
    CREATE TABLE queue_starts_per_claim (queue TEXT NOT NULL, at REAL NOT NULL, n INTEGER NOT NULL);
    INSERT INTO queue_starts_per_claim (queue, at, n)
        SELECT queue, at, count(*) FROM queue_starts GROUP BY queue, at;
    DROP TABLE queue_starts;
    ALTER TABLE queue_starts_per_claim RENAME TO queue_starts;
    CREATE INDEX queue_starts_by_time ON queue_starts (queue, at);
    """,
)
