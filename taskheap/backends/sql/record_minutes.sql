-- Add each row's counters to the stored row of its (minute, queue, task), creating it, in one
-- statement. Rows of one key in the batch are summed first (an upsert may touch a row once),
-- and rows are written in key order, so concurrent batches lock them in the same order and
-- never deadlock. Parameters: minutes, queues, tasks, completed, retried, dead, enqueued,
-- cancelled (parallel arrays).
INSERT INTO {schema}.minutes AS stored (minute, queue, task, completed, retried, dead, enqueued, cancelled)
SELECT minute, queue, task, sum(completed), sum(retried), sum(dead), sum(enqueued), sum(cancelled)
FROM unnest(
    %(minutes)s::bigint[], %(queues)s::text[], %(tasks)s::text[],
    %(completed)s::bigint[], %(retried)s::bigint[], %(dead)s::bigint[], %(enqueued)s::bigint[],
    %(cancelled)s::bigint[]
) AS batch (minute, queue, task, completed, retried, dead, enqueued, cancelled)
GROUP BY minute, queue, task
ORDER BY minute, queue, task
ON CONFLICT (minute, queue, task) DO UPDATE SET
    completed = stored.completed + excluded.completed,
    retried = stored.retried + excluded.retried,
    dead = stored.dead + excluded.dead,
    enqueued = stored.enqueued + excluded.enqueued,
    cancelled = stored.cancelled + excluded.cancelled
