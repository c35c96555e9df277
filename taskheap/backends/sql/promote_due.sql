-- Due scheduled and retrying jobs become queued (the jobs_updated trigger wakes their queues).
-- Rows another session is promoting are skipped, so every worker may run this at once.
-- Parameters: now (NULL: the database clock). Returns the number promoted.
WITH clock AS (
    SELECT coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8) AS now
),
due AS (
    SELECT id FROM {schema}.jobs, clock
    WHERE state IN ('scheduled', 'retrying') AND run_at <= clock.now
    FOR UPDATE OF jobs SKIP LOCKED
),
promoted AS (
    UPDATE {schema}.jobs SET state = 'queued', run_at = NULL
    FROM due WHERE jobs.id = due.id
    RETURNING 1
)
SELECT count(*) FROM promoted
