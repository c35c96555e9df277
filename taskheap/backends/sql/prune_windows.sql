-- Delete up to `limit` rows of unique_windows whose hold ended by now: a key free again (an
-- enqueue would take it over anyway), so the table holds only the windows still running.
-- Parameters: limit, now (NULL: the database clock); retention is not used.
DELETE FROM {schema}.unique_windows WHERE (queue, key) IN (
    SELECT queue, key FROM {schema}.unique_windows
    WHERE held_until <= coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8)
    ORDER BY held_until
    LIMIT %(limit)s::int
    FOR UPDATE SKIP LOCKED
)
