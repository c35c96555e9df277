-- Dead and retrying jobs matching a JobQuery are queued now, rank kept (the jobs_updated
-- trigger wakes their queues): a dead job runs again from scratch (attempts reset, worker and
-- finish time, unknown_since and expiry cleared), a retrying one stops waiting out its backoff
-- (attempts and unknown_since kept).
-- Parameters: as list_jobs.sql.
UPDATE {schema}.jobs SET
    state = 'queued',
    run_at = NULL,
    finished_at = NULL,
    attempts = CASE WHEN state = 'dead' THEN 0 ELSE attempts END,
    worker = CASE WHEN state = 'dead' THEN NULL ELSE worker END,
    unknown_since = CASE WHEN state = 'dead' THEN NULL ELSE unknown_since END,
    expires_at = CASE WHEN state = 'dead' THEN NULL ELSE expires_at END
WHERE id IN (
    SELECT id FROM {schema}.jobs
    WHERE state IN ('dead', 'retrying') AND {matching}
    LIMIT %(limit)s::bigint
    FOR UPDATE SKIP LOCKED
)
