-- Delete up to `limit` succeeded or cancelled jobs finished before the cutoff, oldest first, in
-- one small batch; dead letters are kept until purged. Rows being pruned elsewhere are skipped.
-- Parameters: finished_before, limit.
DELETE FROM {schema}.jobs WHERE id IN (
    SELECT id FROM {schema}.jobs
    WHERE state IN ('succeeded', 'cancelled') AND finished_at < %(finished_before)s::float8
    ORDER BY finished_at
    LIMIT %(limit)s::int
    FOR UPDATE SKIP LOCKED
)
