-- Claimed jobs whose lease token is current end cancelled (their task raised Cancel, or they
-- expired before their first start): the reason is their error, finished now (the clock the
-- leases are judged by), the lease dropped, the attempts as claimed, no failed attempt logged.
-- Parameters: ids, tokens, reasons (parallel arrays), now (NULL: the database clock).
-- Returns the ids cancelled.
WITH clock AS (
    SELECT coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8) AS now
)
UPDATE {schema}.jobs SET
    state = 'cancelled',
    error = given.reason,
    traceback = NULL,
    finished_at = clock.now,
    run_at = NULL,
    token = NULL,
    lease_until = NULL
FROM clock, unnest(%(ids)s::text[], %(tokens)s::text[], %(reasons)s::text[]) AS given (id, token, reason)
WHERE jobs.id = given.id AND jobs.token = given.token AND jobs.state = 'running'
RETURNING jobs.id
