-- Migration 9: unique jobs (enqueue_unique.sql). The key a job was enqueued with and its window
-- (NULL: none). Without a window the job holds its key while in the unique states: the partial
-- unique index refuses a second such job of the queue, in the insert itself. A window's holder is
-- a row of unique_windows, which outlives the job (taken again only once held_until passed;
-- deleted by prune after that).
-- Both columns are nullable: adding them rewrites no table, and the index holds only keyed jobs.
ALTER TABLE {schema}.jobs ADD COLUMN unique_key text, ADD COLUMN unique_for float8;
CREATE UNIQUE INDEX jobs_unique ON {schema}.jobs (queue, unique_key)
    WHERE unique_key IS NOT NULL AND unique_for IS NULL AND state IN {unique_states};
CREATE TABLE {schema}.unique_windows (
    queue text NOT NULL,
    key text NOT NULL,
    job_id text NOT NULL,
    held_until float8 NOT NULL,
    PRIMARY KEY (queue, key)
);
CREATE INDEX unique_windows_ending ON {schema}.unique_windows (held_until);
