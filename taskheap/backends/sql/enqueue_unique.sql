-- Insert one job with a unique key unless the key is held in its queue, and count it as
-- enqueue.sql does. Without a window the insert itself is the check: the jobs_unique index
-- makes it do nothing while another job of the queue holds the key (a concurrent transaction
-- inserting the same key makes it wait for that one's end: a rollback frees the key). With a
-- window, the key's unique_windows row is taken (upserted) only if its hold ended by now, and
-- the job is inserted only if it was taken.
-- Parameters: the job's columns as enqueue.sql's (one value each), unique_key, unique_for; now
-- (NULL: statement_timestamp()); all_time. Returns inserted, and the id of the job holding the
-- key as this statement's snapshot sees it (NULL when inserted, or when the holder committed
-- after the snapshot: the caller runs the statement again).
WITH clock AS (
    SELECT coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8) AS now
), window_taken AS (
    INSERT INTO {schema}.unique_windows AS held (queue, key, job_id, held_until)
    SELECT %(queue)s::text, %(unique_key)s::text, %(id)s::text, clock.now + %(unique_for)s::float8
    FROM clock WHERE %(unique_for)s::float8 IS NOT NULL
    ON CONFLICT (queue, key) DO UPDATE SET job_id = excluded.job_id, held_until = excluded.held_until
    WHERE held.held_until <= excluded.held_until - %(unique_for)s::float8
    RETURNING job_id
), inserted AS (
    INSERT INTO {schema}.jobs (
        id, task, queue, priority, rank, state, payload, retries, backoff, timeout, enqueued_at, run_at, meta,
        expires_at, grp, unique_key, unique_for
    )
    SELECT
        %(id)s::text, %(task)s::text, %(queue)s::text, %(priority)s::int, %(rank)s::float8,
        CASE WHEN %(run_at)s::float8 IS NULL THEN 'queued' ELSE 'scheduled' END,
        %(payload)s::text, %(retries)s::int, %(backoff)s::text, %(timeout)s::float8,
        %(enqueued_at)s::float8, %(run_at)s::float8, %(meta)s::text, %(expires_at)s::float8,
        %(group)s::text, %(unique_key)s::text, %(unique_for)s::float8
    WHERE %(unique_for)s::float8 IS NULL OR EXISTS (SELECT FROM window_taken)
    ON CONFLICT DO NOTHING
    RETURNING queue, task, enqueued_at
), counted AS (
    INSERT INTO {schema}.minute_deltas (minute, queue, task, enqueued)
    SELECT counted.minute, inserted.queue, inserted.task, 1
    FROM inserted CROSS JOIN LATERAL (
        VALUES ((floor(inserted.enqueued_at / 60) * 60)::bigint), (%(all_time)s::bigint)
    ) AS counted (minute)
)
SELECT
    EXISTS (SELECT FROM inserted),
    CASE WHEN %(unique_for)s::float8 IS NULL THEN (
        SELECT id FROM {schema}.jobs
        WHERE queue = %(queue)s::text AND unique_key = %(unique_key)s::text AND unique_key IS NOT NULL
        AND unique_for IS NULL AND state IN {unique_states} AND id <> %(id)s::text
    ) ELSE (
        SELECT job_id FROM {schema}.unique_windows WHERE queue = %(queue)s::text AND key = %(unique_key)s::text
    ) END
