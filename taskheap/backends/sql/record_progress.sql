-- Store running jobs' progress, only with their current token. Parameters: ids, tokens,
-- progress (parallel arrays), now (NULL: the database clock). Returns the ids written.
UPDATE {schema}.jobs SET
    progress = reported.progress,
    progress_at = coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8)
FROM unnest(%(ids)s::text[], %(tokens)s::text[], %(progress)s::text[]) AS reported (id, token, progress)
WHERE jobs.id = reported.id AND jobs.token = reported.token AND jobs.state = 'running'
RETURNING jobs.id
