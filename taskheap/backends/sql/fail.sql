-- Failed runs whose lease token is current: retrying for retry_in seconds after now (the same
-- clock the leases are judged by), or dead (retry_in NULL).
-- Each becomes the job's error and traceback and is appended to its failed_attempts log (the
-- oldest entry dropped once the log holds `kept`). A new due time wakes the queue's idle
-- workers (jobs_updated trigger), who wait until then.
-- Parameters: ids, tokens, errors, tracebacks, retry_in (parallel arrays), now, kept.
-- A job with a cancel request is refused (its caller cancels it: cancel_claimed.sql), so no
-- request stored before this write lets the job be retried.
-- Returns the ids accepted.
WITH clock AS (
    SELECT coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8) AS now
)
UPDATE {schema}.jobs SET
    state = CASE WHEN failed.retry_in IS NULL THEN 'dead' ELSE 'retrying' END,
    run_at = clock.now + failed.retry_in,
    finished_at = CASE WHEN failed.retry_in IS NULL THEN clock.now END,
    error = failed.error,
    traceback = failed.traceback,
    token = NULL,
    lease_until = NULL,
    failed_attempts = CASE
        WHEN jsonb_array_length(jobs.failed_attempts) >= %(kept)s::int THEN jobs.failed_attempts - 0
        ELSE jobs.failed_attempts
    END || jsonb_build_array(jsonb_build_object(
        'attempt', jobs.attempts,
        'error', failed.error,
        'traceback', failed.traceback,
        'worker', jobs.worker,
        'finished_at', clock.now
    ))
FROM clock, unnest(
    %(ids)s::text[], %(tokens)s::text[], %(errors)s::text[], %(tracebacks)s::text[],
    %(retry_in)s::float8[]
) AS failed (id, token, error, traceback, retry_in)
WHERE jobs.id = failed.id AND jobs.token = failed.token AND jobs.state = 'running'
    AND jobs.cancel_requested_at IS NULL
RETURNING jobs.id
