-- Before an idle worker sleeps: is a job of its unpaused queues queued already, and in how
-- many seconds does the next scheduled or retrying job of those queues fall due (NULL: none)?
-- Parameters: queues, now (NULL: the database clock).
WITH active AS (
    SELECT requested.name FROM unnest(%(queues)s::text[]) AS requested (name)
    WHERE NOT EXISTS (
        SELECT FROM {schema}.queues WHERE queues.name = requested.name AND queues.paused
    )
)
SELECT
    EXISTS (
        SELECT FROM {schema}.jobs
        WHERE state = 'queued' AND queue IN (SELECT name FROM active)
    ),
    (
        SELECT min(run_at) FROM {schema}.jobs
        WHERE state IN ('scheduled', 'retrying') AND queue IN (SELECT name FROM active)
    ) - coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8)
