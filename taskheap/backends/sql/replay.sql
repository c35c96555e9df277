-- Dead and retrying jobs matching a JobQuery are queued now, rank kept (the jobs_updated
-- trigger wakes their queues): a dead job runs again from scratch (attempts reset, worker and
-- finish time, unknown_since and expiry cleared), a retrying one stops waiting out its backoff
-- (attempts and unknown_since kept). A dead job whose unique key another active job of its queue
-- holds stays dead (docs/state-machine.md), counted as held. A key taken by a producer after this
-- statement's snapshot fails it whole with a unique violation: postgres_admin.py runs it again.
-- Parameters: as list_jobs.sql. Returns replayed, held.
WITH locked AS (
    SELECT id, queue, unique_key, state = 'dead' AND unique_key IS NOT NULL AND unique_for IS NULL AS keyed,
    EXISTS (
        SELECT FROM {schema}.jobs AS holder
        WHERE holder.queue = jobs.queue AND holder.unique_key = jobs.unique_key
        AND holder.unique_for IS NULL AND holder.state IN {unique_states}
    ) AS taken
    FROM {schema}.jobs
    WHERE state IN ('dead', 'retrying') AND {matching}
    LIMIT %(limit)s::bigint
    FOR UPDATE SKIP LOCKED
), chosen AS ( -- of dead jobs sharing a free key, the oldest takes it
    SELECT id, keyed AND (taken OR row_number() OVER (PARTITION BY queue, unique_key, keyed ORDER BY id) > 1) AS held
    FROM locked
), replayed AS (
    UPDATE {schema}.jobs SET
        state = 'queued',
        run_at = NULL,
        finished_at = NULL,
        attempts = CASE WHEN jobs.state = 'dead' THEN 0 ELSE jobs.attempts END,
        worker = CASE WHEN jobs.state = 'dead' THEN NULL ELSE jobs.worker END,
        unknown_since = CASE WHEN jobs.state = 'dead' THEN NULL ELSE jobs.unknown_since END,
        expires_at = CASE WHEN jobs.state = 'dead' THEN NULL ELSE jobs.expires_at END
    FROM chosen
    WHERE jobs.id = chosen.id AND NOT chosen.held
    RETURNING 1
)
SELECT (SELECT count(*) FROM replayed), (SELECT count(*) FROM chosen WHERE held)
