-- The per-minute counter rows from a minute on (the ALL_TIME rows included), in key order.
-- Parameters: since.
SELECT minute, queue, task, completed, retried, dead, enqueued
FROM {schema}.minutes
WHERE minute >= %(since)s::bigint
ORDER BY minute, queue, task
