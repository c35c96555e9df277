-- Give claimed jobs whose lease token is current back unrun: scheduled, due `delay` seconds after
-- now (the clock the leases are judged by), the attempt not spent (as release.sql). For an unknown
-- task, unknown_since becomes now unless it is set (the first such give-back is kept). The new due
-- time wakes the queue's idle workers (jobs_updated trigger), who wait until then.
-- Parameters: ids, tokens, delays, unknown_tasks (parallel arrays), now (NULL: the database clock).
-- A job with a cancel request is refused (its caller cancels it: cancel_claimed.sql).
-- Returns the ids postponed.
WITH clock AS (
    SELECT coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8) AS now
)
UPDATE {schema}.jobs SET
    state = 'scheduled',
    run_at = clock.now + given.delay,
    attempts = jobs.attempts - 1,
    token = NULL,
    lease_until = NULL,
    worker = NULL,
    unknown_since = CASE
        WHEN given.unknown_task THEN coalesce(jobs.unknown_since, clock.now)
        ELSE jobs.unknown_since
    END
FROM clock, unnest(
    %(ids)s::text[], %(tokens)s::text[], %(delays)s::float8[], %(unknown_tasks)s::boolean[]
) AS given (id, token, delay, unknown_task)
WHERE jobs.id = given.id AND jobs.token = given.token AND jobs.state = 'running'
    AND jobs.cancel_requested_at IS NULL
RETURNING jobs.id
