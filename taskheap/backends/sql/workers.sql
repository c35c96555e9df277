-- The worker registry, oldest first, each with the seconds since its last heartbeat by the
-- database clock (never below 0).
SELECT
    id, host, pid, queues, concurrency, started_at, last_seen, jobs, tasks, lease, processed,
    per_minute, greatest(extract(epoch FROM statement_timestamp())::float8 - last_seen, 0)
FROM {schema}.workers
ORDER BY started_at
