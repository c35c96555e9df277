-- Migration 3: every job's log of failed attempts, and how many jobs were enqueued per minute.
-- Both columns have constant defaults, so adding them rewrites no table.

-- The last few failed attempts of a job, oldest first: objects with attempt, error, traceback,
-- worker and finished_at, appended by fail.sql in the statement that records the failure.
ALTER TABLE {schema}.jobs ADD COLUMN failed_attempts jsonb NOT NULL DEFAULT '[]';

-- New jobs per (minute, queue, task), counted by enqueue.sql in the statement that inserts them.
ALTER TABLE {schema}.minutes ADD COLUMN enqueued bigint NOT NULL DEFAULT 0;
