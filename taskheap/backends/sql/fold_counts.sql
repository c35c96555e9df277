-- Fold the job_counts log into one row per (queue, priority, state), dropping zero groups.
-- Rows another session is folding are skipped, so folds never wait for each other; the log
-- sums to the same counts before and after.
WITH folded AS (
    DELETE FROM {schema}.job_counts
    WHERE ctid IN (SELECT ctid FROM {schema}.job_counts FOR UPDATE SKIP LOCKED)
    RETURNING queue, priority, state, n
)
INSERT INTO {schema}.job_counts (queue, priority, state, n)
SELECT queue, priority, state, sum(n) FROM folded
GROUP BY queue, priority, state
HAVING sum(n) <> 0
