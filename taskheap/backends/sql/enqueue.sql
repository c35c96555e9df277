-- Insert a batch of new jobs in one statement: parallel arrays, unnested row by row. Runnable
-- jobs are queued, delayed ones scheduled; the jobs_inserted trigger wakes their queues.
-- Idempotent by id: a batch retried after a lost acknowledgement inserts nothing twice, and
-- counts nothing twice: the jobs actually inserted are appended to minute_deltas, one delta per
-- (enqueue minute, queue, task) and per (all_time, queue, task). Appending locks no shared row,
-- so producers never wait for each other, even inside long transactions of their own (the
-- deltas count once that transaction commits; fold_minutes.sql folds them later).
-- Parameters: one array per column, all of the same length; all_time (ALL_TIME).
WITH inserted AS (
    INSERT INTO {schema}.jobs (
        id, task, queue, priority, rank, state, payload, retries, backoff, timeout, enqueued_at, run_at, meta,
        expires_at, grp
    )
    SELECT
        id, task, queue, priority, rank,
        CASE WHEN run_at IS NULL THEN 'queued' ELSE 'scheduled' END,
        payload, retries, backoff, timeout, enqueued_at, run_at, meta, expires_at, grp
    FROM unnest(
        %(ids)s::text[], %(tasks)s::text[], %(queues)s::text[], %(priorities)s::int[],
        %(ranks)s::float8[], %(payloads)s::text[], %(retries)s::int[], %(backoffs)s::text[],
        %(timeouts)s::float8[], %(enqueued_at)s::float8[], %(run_at)s::float8[], %(metas)s::text[],
        %(expires_at)s::float8[], %(groups)s::text[]
    ) AS batch (
        id, task, queue, priority, rank, payload, retries, backoff, timeout, enqueued_at, run_at, meta,
        expires_at, grp
    )
    ON CONFLICT (id) DO NOTHING
    RETURNING queue, task, enqueued_at
)
INSERT INTO {schema}.minute_deltas (minute, queue, task, enqueued)
SELECT counted.minute, inserted.queue, inserted.task, count(*)
FROM inserted CROSS JOIN LATERAL (
    VALUES ((floor(inserted.enqueued_at / 60) * 60)::bigint), (%(all_time)s::bigint)
) AS counted (minute)
GROUP BY 1, 2, 3
