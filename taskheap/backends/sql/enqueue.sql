-- Insert a batch of new jobs in one statement: parallel arrays, unnested row by row. Runnable
-- jobs are queued, delayed ones scheduled; the jobs_inserted trigger wakes their queues.
-- Idempotent by id: a batch retried after a lost acknowledgement inserts nothing twice.
-- Parameters: one array per column, all of the same length.
INSERT INTO {schema}.jobs (
    id, task, queue, priority, rank, state, payload, retries, backoff, timeout, enqueued_at, run_at
)
SELECT
    id, task, queue, priority, rank,
    CASE WHEN run_at IS NULL THEN 'queued' ELSE 'scheduled' END,
    payload, retries, backoff, timeout, enqueued_at, run_at
FROM unnest(
    %(ids)s::text[], %(tasks)s::text[], %(queues)s::text[], %(priorities)s::int[],
    %(ranks)s::float8[], %(payloads)s::text[], %(retries)s::int[], %(backoffs)s::text[],
    %(timeouts)s::float8[], %(enqueued_at)s::float8[], %(run_at)s::float8[]
) AS batch (id, task, queue, priority, rank, payload, retries, backoff, timeout, enqueued_at, run_at)
ON CONFLICT (id) DO NOTHING
