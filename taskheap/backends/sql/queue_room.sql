-- The limited queues of a batch without room for its jobs: a row per queue whose waiting jobs
-- (queued, scheduled, retrying: an index-only count of jobs_waiting, O(that many)) and the new
-- ones would be more than its max_length. Runs after limit_lock.sql in the same transaction, so
-- it sees every committed enqueue into those queues, and none can commit before enqueue.sql,
-- which follows when no row comes back. New jobs are those whose id is not stored yet, so a
-- batch retried after a lost acknowledgement is not refused for its own jobs.
-- Parameters: limited (text[]) and max_lengths (bigint[]), one per limited queue; ids and
-- queues (text[]) of the batch. Returns queue, max_length, waiting, adding.
SELECT limits.queue, limits.max_length, waiting.n, adding.n
FROM unnest(%(limited)s::text[], %(max_lengths)s::bigint[]) AS limits (queue, max_length)
CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM unnest(%(ids)s::text[], %(queues)s::text[]) AS batch (id, queue)
    WHERE batch.queue = limits.queue
    AND NOT EXISTS (SELECT FROM {schema}.jobs WHERE jobs.id = batch.id)
) AS adding
CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM {schema}.jobs
    WHERE jobs.state IN ('queued', 'scheduled', 'retrying') AND jobs.queue = limits.queue
) AS waiting
WHERE waiting.n + adding.n > limits.max_length
ORDER BY limits.queue
