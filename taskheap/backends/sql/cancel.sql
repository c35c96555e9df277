-- Cancel a job that is not running yet, or store the request for a running one (its worker
-- polls for it: cancel_requests.sql). Parameters: id, now (NULL: the database clock).
-- Returns the id when either was done.
WITH clock AS (
    SELECT coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8) AS now
), waiting AS (
    UPDATE {schema}.jobs SET state = 'cancelled', finished_at = clock.now, run_at = NULL
    FROM clock
    WHERE id = %(id)s AND state IN ('queued', 'scheduled', 'retrying')
    RETURNING id
), running AS (
    UPDATE {schema}.jobs SET cancel_requested_at = coalesce(cancel_requested_at, clock.now)
    FROM clock
    WHERE id = %(id)s AND state = 'running'
    RETURNING id
)
SELECT id FROM waiting UNION ALL SELECT id FROM running
