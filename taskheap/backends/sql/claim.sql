-- Lease the best `limit` queued jobs of the requested queues by (rank, id), paused queues
-- and queues with limits (claim_limited.sql) skipped: per queue the head of its jobs_runnable index (O(log n) in queue depth), locked
-- with SKIP LOCKED so concurrent claimers neither wait nor share a job; the heads merged and
-- the best kept. Each claimed job gets a fresh lease token. Runs right after promote_due.sql.
-- The picked ids are updated through the primary key (`= ANY(ARRAY(…))`): a join to the CTE
-- would let the planner hash-join a sequential scan of the jobs while the table is small.
-- Parameters: queues, worker, limit, lease (seconds), now (NULL: the database clock).
-- Returns rank first (to order the batch), then the ClaimedJob fields (past_expiry: a first
-- attempt claimed at or after the job's expiry, which the worker cancels unrun).
WITH clock AS (
    SELECT coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8) AS now
),
active AS (
    SELECT requested.name FROM unnest(%(queues)s::text[]) AS requested (name)
    WHERE NOT EXISTS (
        SELECT FROM {schema}.queues WHERE queues.name = requested.name AND queues.paused
    ) AND NOT EXISTS (
        SELECT FROM {schema}.queue_limits WHERE queue_limits.name = requested.name
    )
),
picked AS (
    SELECT head.id FROM active CROSS JOIN LATERAL (
        SELECT id, rank FROM {schema}.jobs
        WHERE queue = active.name AND state = 'queued'
        ORDER BY rank, id
        LIMIT %(limit)s::int
        FOR UPDATE SKIP LOCKED
    ) AS head
    ORDER BY head.rank, head.id
    LIMIT %(limit)s::int
)
UPDATE {schema}.jobs SET {claim_lease}
FROM clock
WHERE jobs.id = ANY(ARRAY(SELECT id FROM picked))
RETURNING {claimed_columns}
