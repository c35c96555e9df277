-- Waiting jobs (queued or scheduled) never started (no attempt spent) whose expiry is at or
-- before now end cancelled, "expired": up to `limit` of them by the jobs_expiring index, rows
-- another session is expiring or claiming skipped, so every worker may run this at once.
-- Parameters: limit, now (NULL: the database clock). Returns their id, queue, task.
WITH clock AS (
    SELECT coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8) AS now
),
due AS (
    SELECT id FROM {schema}.jobs, clock
    WHERE expires_at IS NOT NULL AND attempts = 0 AND state IN ('queued', 'scheduled')
        AND expires_at <= clock.now
    LIMIT %(limit)s::int
    FOR UPDATE OF jobs SKIP LOCKED
)
UPDATE {schema}.jobs SET state = 'cancelled', error = 'expired', finished_at = clock.now, run_at = NULL
FROM due, clock
WHERE jobs.id = due.id
RETURNING jobs.id, jobs.queue, jobs.task
