-- Dead and retrying jobs matching a JobQuery are queued now, rank kept (the jobs_updated
-- trigger wakes their queues): a dead job runs again from scratch (attempts reset, worker and
-- finish time, unknown_since and expiry cleared), a retrying one stops waiting out its backoff
-- (attempts and unknown_since kept). A dead job whose unique key another active job of its queue
-- holds stays dead (docs/state-machine.md).
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
    AND (state = 'retrying' OR unique_key IS NULL OR unique_for IS NOT NULL OR NOT EXISTS (
        SELECT FROM {schema}.jobs AS holder
        WHERE holder.queue = jobs.queue AND holder.unique_key = jobs.unique_key
        AND holder.unique_for IS NULL AND holder.state IN {unique_states}
    ))
    LIMIT %(limit)s::bigint
    FOR UPDATE SKIP LOCKED
)
