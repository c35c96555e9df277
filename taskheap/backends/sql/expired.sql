-- Running jobs whose lease ran out, oldest lease first, with their current token.
-- Parameters: limit, now (NULL: the database clock).
SELECT id, task, queue, priority, payload, attempts, retries, backoff, timeout, token, meta, enqueued_at
FROM {schema}.jobs
WHERE state = 'running'
    AND lease_until < coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8)
ORDER BY lease_until
LIMIT %(limit)s::int
