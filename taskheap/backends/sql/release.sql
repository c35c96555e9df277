-- Give claimed, unstarted jobs back: queued again, the attempt not spent (graceful shutdown).
-- Parameters: ids, tokens (parallel arrays).
UPDATE {schema}.jobs SET
    state = 'queued', attempts = attempts - 1, token = NULL, lease_until = NULL, worker = NULL
FROM unnest(%(ids)s::text[], %(tokens)s::text[]) AS released (id, token)
WHERE jobs.id = released.id AND jobs.token = released.token AND jobs.state = 'running'
