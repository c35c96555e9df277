-- Mark succeeded the running jobs whose lease token is current; a stale token matches nothing.
-- Parameters: ids, tokens, results (parallel arrays), now (NULL: the database clock).
-- Returns the ids accepted.
WITH clock AS (
    SELECT coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8) AS now
)
UPDATE {schema}.jobs SET
    state = 'succeeded', result = done.result, finished_at = clock.now,
    token = NULL, lease_until = NULL
FROM clock, unnest(%(ids)s::text[], %(tokens)s::text[], %(results)s::text[]) AS done (id, token, result)
WHERE jobs.id = done.id AND jobs.token = done.token AND jobs.state = 'running'
RETURNING jobs.id
