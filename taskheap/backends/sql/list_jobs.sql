-- Jobs matching a JobQuery (matching.sql), newest first. Run unprepared, so each call is
-- planned with its values and the unused filters fold away.
-- Parameters: ids, queue, state, task, before, after, text, scan (NULL matches everything), limit.
SELECT
    id, task, queue, priority, state, payload, attempts, retries, enqueued_at, run_at,
    started_at, finished_at, worker, result, error, traceback, meta, unknown_since, unique_key,
    progress, progress_at, failed_attempts
FROM {schema}.jobs
WHERE {matching}
ORDER BY id DESC
LIMIT %(limit)s::bigint
