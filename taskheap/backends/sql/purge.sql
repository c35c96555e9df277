-- Delete the jobs matching a JobQuery (the admin API allows finished states only).
-- Parameters: as list_jobs.sql.
DELETE FROM {schema}.jobs
WHERE id IN (SELECT id FROM {schema}.jobs WHERE {matching} LIMIT %(limit)s::bigint)
