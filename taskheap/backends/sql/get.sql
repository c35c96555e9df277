-- One job as a JobRecord. Parameters: id.
SELECT
    id, task, queue, priority, state, payload, attempts, retries, enqueued_at, run_at,
    started_at, finished_at, worker, result, error, traceback, meta, unknown_since, unique_key,
    progress, progress_at, failed_attempts
FROM {schema}.jobs
WHERE id = %(id)s
