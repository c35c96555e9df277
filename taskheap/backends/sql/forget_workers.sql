-- Drop registry entries of workers not seen since the cutoff. Parameters: seen_before.
DELETE FROM {schema}.workers WHERE last_seen < %(seen_before)s::float8
