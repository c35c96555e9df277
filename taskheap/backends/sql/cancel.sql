-- Cancel a job that is not running yet. Parameters: id, now (NULL: the database clock).
UPDATE {schema}.jobs SET
    state = 'cancelled',
    finished_at = coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8),
    run_at = NULL
WHERE id = %(id)s AND state IN ('queued', 'scheduled', 'retrying')
