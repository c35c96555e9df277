-- Dead jobs matching a JobQuery run again from scratch: queued, attempts reset (the
-- jobs_updated trigger wakes their queues). Parameters: as list_jobs.sql.
UPDATE {schema}.jobs SET state = 'queued', attempts = 0, run_at = NULL, finished_at = NULL, worker = NULL
WHERE id IN (
    SELECT id FROM {schema}.jobs
    WHERE state = 'dead' AND {matching}
    LIMIT %(limit)s::bigint
    FOR UPDATE SKIP LOCKED
)
