-- Migration 12: queue_starts holds a row per claim, with its number of starts `n`, not a row per
-- started job, so a claim writes one row and trims few (claim_limited.sql: a rate's room is the
-- rate minus sum(n) of the rows in its window, kept in queue_limits.started). The rows already
-- there, a start each, are merged per (queue, at): the window holds the same starts.
ALTER TABLE {schema}.queue_starts ADD COLUMN n int NOT NULL DEFAULT 1;
WITH single AS (DELETE FROM {schema}.queue_starts RETURNING queue, at, n)
INSERT INTO {schema}.queue_starts (queue, at, n) SELECT queue, at, sum(n) FROM single GROUP BY queue, at;
ALTER TABLE {schema}.queue_starts ALTER COLUMN n DROP DEFAULT;
