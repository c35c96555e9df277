-- Record the worker as alive and extend the leases it still owns (by token), in one statement.
-- Extending changes no indexed column, so it is a HOT update.
-- Parameters: the WorkerInfo fields (its lease as worker_lease), ids and tokens (parallel
-- arrays), lease (seconds to extend the leases by), now.
-- Returns the ids of the leases extended.
WITH clock AS (
    SELECT coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8) AS now
),
registered AS (
    INSERT INTO {schema}.workers (
        id, host, pid, queues, concurrency, started_at, last_seen, jobs, tasks, lease, processed,
        per_minute
    )
    SELECT
        %(worker)s, %(host)s, %(pid)s::int, %(worker_queues)s::text[], %(concurrency)s::int,
        %(started_at)s::float8, clock.now, %(jobs)s::text[], %(tasks)s::text[],
        %(worker_lease)s::float8, %(processed)s::bigint, %(per_minute)s::int
    FROM clock
    ON CONFLICT (id) DO UPDATE SET
        host = excluded.host, pid = excluded.pid, queues = excluded.queues,
        concurrency = excluded.concurrency, started_at = excluded.started_at,
        last_seen = excluded.last_seen, jobs = excluded.jobs, tasks = excluded.tasks,
        lease = excluded.lease, processed = excluded.processed, per_minute = excluded.per_minute
)
UPDATE {schema}.jobs SET lease_until = clock.now + %(lease)s::float8
FROM clock, unnest(%(ids)s::text[], %(tokens)s::text[]) AS held (id, token)
WHERE jobs.id = held.id AND jobs.token = held.token AND jobs.state = 'running'
RETURNING jobs.id
