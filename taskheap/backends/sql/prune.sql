-- Delete up to `limit` succeeded or cancelled jobs finished more than `retention` seconds before
-- now, oldest first, in one small batch; dead letters are kept until purged. Rows being pruned
-- elsewhere are skipped.
-- Parameters: retention (seconds), limit, now (NULL: the database clock).
DELETE FROM {schema}.jobs WHERE id IN (
    SELECT id FROM {schema}.jobs
    WHERE state IN ('succeeded', 'cancelled')
        AND finished_at < coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8)
            - %(retention)s::float8
    ORDER BY finished_at
    LIMIT %(limit)s::int
    FOR UPDATE SKIP LOCKED
)
