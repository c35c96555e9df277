-- Migration 8: when a job expires unless started (NULL: never; task.options(expires=...)), and
-- the unstarted waiting jobs by it, which expire_due.sql reads. Nullable, so adding it rewrites
-- no table; the index holds only jobs with an expiry and no attempt spent.
ALTER TABLE {schema}.jobs ADD COLUMN expires_at float8;
CREATE INDEX jobs_expiring ON {schema}.jobs (expires_at)
    WHERE expires_at IS NOT NULL AND attempts = 0 AND state IN ('queued', 'scheduled');
