-- Migration 2: what the admin API needs: the oldest job per queue and state, listings by
-- state, and per-minute outcome counters that outlive the jobs they count.

-- Jobs waiting to run, by state, queue and creation order: the oldest waiting job of each
-- queue is one probe (oldest.sql), and listing them by state reads ids in order. Partial, so
-- claiming (queued -> running) and completing change no entry of it.
CREATE INDEX jobs_waiting ON {schema}.jobs (state, queue, id)
    WHERE state IN ('queued', 'scheduled', 'retrying');

-- Outcomes of the runs of one task in one queue during one minute (epoch seconds of its
-- start), or under the minute ALL_TIME (1 << 40) for the running totals. "C" collation: rows
-- read in byte order, as on every backend.
CREATE TABLE {schema}.minutes (
    minute bigint NOT NULL,
    queue text COLLATE "C" NOT NULL,
    task text COLLATE "C" NOT NULL,
    completed bigint NOT NULL DEFAULT 0,
    retried bigint NOT NULL DEFAULT 0,
    dead bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, queue, task)
);
