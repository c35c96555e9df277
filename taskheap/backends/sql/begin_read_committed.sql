-- Open a transaction queued in a pipeline with the statements it holds and its commit.sql, so
-- that it costs no round trip of its own; READ COMMITTED whatever the session's default, so
-- that each statement's snapshot sees what committed before it (claim_limited.sql, after
-- claim_lock.sql, sees every committed claim of the queues it locked).
BEGIN ISOLATION LEVEL READ COMMITTED
