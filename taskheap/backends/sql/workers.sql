-- The worker registry, oldest first.
SELECT id, host, pid, queues, concurrency, started_at, last_seen, jobs
FROM {schema}.workers
ORDER BY started_at
