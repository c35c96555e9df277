-- The running jobs among the ids with a cancel request stored. Parameters: ids (text[]).
SELECT id FROM {schema}.jobs
WHERE id = ANY(%(ids)s::text[]) AND state = 'running' AND cancel_requested_at IS NOT NULL
