-- Migration 10 (9 is unique jobs'): limits at claim (postgres_limits.py). A job's group
-- (nullable: no rewrite); the running jobs per (queue, group), which a limited claim counts;
-- the limits each queue holds, whose rows a limited claim locks (claim_lock.sql), with its count
-- of starts kept; the starts of queues with a rate, by time (the sliding window, trimmed by
-- claim_limited.sql, which keeps `started` their count: the rate's room costs no count).
ALTER TABLE {schema}.jobs ADD COLUMN grp text;
CREATE INDEX jobs_running_groups ON {schema}.jobs (queue, grp) WHERE state = 'running';
CREATE TABLE {schema}.queue_limits (
    name text PRIMARY KEY,
    concurrency int,
    rate int,
    period float8,
    group_concurrency int,
    started int NOT NULL DEFAULT 0  -- its rows in queue_starts: the starts in its rate's window
);
CREATE TABLE {schema}.queue_starts (queue text NOT NULL, at float8 NOT NULL);
CREATE INDEX queue_starts_by_time ON {schema}.queue_starts (queue, at);
