-- Delete the jobs matching a JobQuery (the admin API allows finished and not yet started states).
-- Parameters: as list_jobs.sql. The state is checked again on the row deleted: a row a claim
-- updated meanwhile is rechecked (READ COMMITTED) against these conditions, not the subquery's.
DELETE FROM {schema}.jobs
WHERE id IN (SELECT id FROM {schema}.jobs WHERE {matching} LIMIT %(limit)s::bigint)
AND (%(state)s::text IS NULL OR state = %(state)s::text)
