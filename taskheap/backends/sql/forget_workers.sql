-- Drop registry entries of workers not seen for `silence` seconds before now.
-- Parameters: silence (seconds), now (NULL: the database clock).
DELETE FROM {schema}.workers
WHERE last_seen < coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8)
    - %(silence)s::float8
