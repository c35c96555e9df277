-- Per queue holding jobs in a state: the enqueued_at of its smallest-id such job. A loose
-- index scan by (queue, id): each step is one probe for the first job of the next queue name,
-- which is that queue's oldest. The indexes that give this order: jobs_waiting for queued,
-- scheduled and retrying, jobs_dead for dead (running jobs are few and sorted). Run
-- unprepared, so the state picks the partial index. Parameters: state.
WITH RECURSIVE oldest (queue, enqueued_at) AS (
    (
        SELECT queue, enqueued_at FROM {schema}.jobs
        WHERE state = %(state)s::text
        ORDER BY queue, id
        LIMIT 1
    )
    UNION ALL
    SELECT next.queue, next.enqueued_at FROM oldest CROSS JOIN LATERAL (
        SELECT queue, enqueued_at FROM {schema}.jobs
        WHERE state = %(state)s::text AND queue > oldest.queue
        ORDER BY queue, id
        LIMIT 1
    ) AS next
)
SELECT queue, enqueued_at FROM oldest
