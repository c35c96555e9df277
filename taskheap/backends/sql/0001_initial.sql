-- Migration 1: the job table, its partial indexes, queues, workers, and the count log.
-- {schema} is replaced by the app's schema (quoted); literal braces are not allowed here.
-- Timestamps are float8 seconds since the epoch, as everywhere in taskheap.

CREATE TABLE {schema}.jobs (
    id text COLLATE "C" PRIMARY KEY,  -- ULID: byte order is creation order
    task text NOT NULL,
    queue text NOT NULL,
    priority integer NOT NULL,
    rank float8 NOT NULL,
    state text NOT NULL CHECK (
        state IN ('queued', 'scheduled', 'running', 'retrying', 'succeeded', 'dead', 'cancelled')
    ),
    payload text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    retries integer NOT NULL,
    backoff text,
    timeout float8,
    enqueued_at float8 NOT NULL,
    run_at float8,
    started_at float8,
    finished_at float8,
    lease_until float8,
    token text,
    worker text,
    result text,
    error text,
    traceback text
) WITH (
    -- a queue table churns: vacuum after 2% of rows changed instead of the default 20%
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_insert_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02
);

-- Every hot-path index is partial, so it holds only the few rows in that state and stays small
-- however many finished rows the table keeps until they are pruned.
CREATE INDEX jobs_runnable ON {schema}.jobs (queue, rank, id) WHERE state = 'queued';
CREATE INDEX jobs_due ON {schema}.jobs (run_at) WHERE state IN ('scheduled', 'retrying');
-- Not on lease_until: a heartbeat then changes no indexed column and is a HOT update.
CREATE INDEX jobs_running ON {schema}.jobs (id) WHERE state = 'running';
CREATE INDEX jobs_finished ON {schema}.jobs (finished_at) WHERE state IN ('succeeded', 'cancelled');
CREATE INDEX jobs_dead ON {schema}.jobs (queue, id) WHERE state = 'dead';

CREATE TABLE {schema}.queues (
    name text PRIMARY KEY,
    paused boolean NOT NULL DEFAULT false
);

CREATE TABLE {schema}.workers (
    id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    queues text[] NOT NULL,
    concurrency integer NOT NULL,
    started_at float8 NOT NULL,
    last_seen float8 NOT NULL,
    jobs text[] NOT NULL
);

-- Job counts as an append-only log of deltas per (queue, priority, state): every statement
-- that changes jobs appends its net change (trigger below), without locking a shared counter
-- row; counts.sql sums it and folds it back to one row per group. Counting is then
-- proportional to the number of groups, not to the number of jobs.
CREATE TABLE {schema}.job_counts (
    queue text NOT NULL,
    priority integer NOT NULL,
    state text NOT NULL,
    n bigint NOT NULL
);

-- After each statement on jobs: log the count deltas, and wake idle workers (NOTIFY, sent at
-- commit) for every queue where a job became queued or got a new due time.
CREATE FUNCTION {schema}.jobs_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {schema}.job_counts
        SELECT queue, priority, state, count(*) FROM new_rows GROUP BY 1, 2, 3;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO {schema}.job_counts
        SELECT queue, priority, state, -count(*) FROM old_rows GROUP BY 1, 2, 3;
    ELSE
        INSERT INTO {schema}.job_counts
        SELECT queue, priority, state, sum(n) FROM (
            SELECT queue, priority, state, 1 AS n FROM new_rows
            UNION ALL
            SELECT queue, priority, state, -1 AS n FROM old_rows
        ) AS changes
        GROUP BY 1, 2, 3 HAVING sum(n) <> 0;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify('taskheap:' || TG_TABLE_SCHEMA, queue)
        FROM (
            SELECT DISTINCT queue FROM new_rows
            WHERE state IN ('queued', 'scheduled', 'retrying')
        ) AS woken;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_inserted AFTER INSERT ON {schema}.jobs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.jobs_changed();
CREATE TRIGGER jobs_updated AFTER UPDATE ON {schema}.jobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.jobs_changed();
CREATE TRIGGER jobs_deleted AFTER DELETE ON {schema}.jobs
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.jobs_changed();
