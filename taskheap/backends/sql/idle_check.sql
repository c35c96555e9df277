-- Before an idle worker sleeps: is a job of its (unpaused) queues queued already, and in how
-- many seconds does the next scheduled or retrying job of those queues fall due (NULL: none)?
-- Parameters: queues.
SELECT
    EXISTS (
        SELECT FROM {schema}.jobs
        WHERE state = 'queued' AND queue = ANY(%(queues)s::text[])
            AND queue NOT IN (SELECT name FROM {schema}.queues WHERE paused)
    ),
    (
        SELECT min(run_at) FROM {schema}.jobs
        WHERE state IN ('scheduled', 'retrying') AND queue = ANY(%(queues)s::text[])
    ) - extract(epoch FROM statement_timestamp())::float8
