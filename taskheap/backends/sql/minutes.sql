-- The per-minute counter rows from a minute on (the ALL_TIME rows included), in key order,
-- with the `enqueued` deltas not folded yet added in (those another session is folding right
-- now: this statement's snapshot sees them either here or in `minutes`, never in both).
-- Parameters: since.
SELECT minute, queue, task,
    sum(completed)::bigint, sum(retried)::bigint, sum(dead)::bigint, sum(enqueued)::bigint,
    sum(cancelled)::bigint
FROM (
    SELECT minute, queue, task, completed, retried, dead, enqueued, cancelled
    FROM {schema}.minutes WHERE minute >= %(since)s::bigint
    UNION ALL
    SELECT minute, queue, task, 0, 0, 0, enqueued, 0
    FROM {schema}.minute_deltas WHERE minute >= %(since)s::bigint
) AS counters
GROUP BY minute, queue, task
ORDER BY minute, queue, task
