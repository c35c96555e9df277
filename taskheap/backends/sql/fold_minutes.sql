-- Fold the committed minute_deltas into the `enqueued` counters of `minutes`, in one statement
-- (so one transaction): the deltas taken are deleted and added, or neither. Deltas another
-- session is folding are skipped (FOR UPDATE SKIP LOCKED), so each is added exactly once and
-- folds never wait for each other; deltas of open transactions are invisible until they
-- commit. Rows are upserted in key order, as record_minutes.sql does, so concurrent writers of
-- `minutes` lock them in the same order and never deadlock.
WITH folded AS (
    DELETE FROM {schema}.minute_deltas
    WHERE ctid IN (SELECT ctid FROM {schema}.minute_deltas FOR UPDATE SKIP LOCKED)
    RETURNING minute, queue, task, enqueued
)
INSERT INTO {schema}.minutes AS stored (minute, queue, task, enqueued)
SELECT minute, queue, task, sum(enqueued) FROM folded
GROUP BY minute, queue, task
ORDER BY minute, queue, task
ON CONFLICT (minute, queue, task) DO UPDATE SET enqueued = stored.enqueued + excluded.enqueued
