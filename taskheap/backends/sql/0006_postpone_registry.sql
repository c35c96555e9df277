-- Migration 6: when a worker first gave a job back for not knowing its task (postpone.sql), and
-- what a heartbeat records of its worker beyond the first columns: the task names it can run, its
-- lease, the jobs it finished since it started and in the last minute. Nullable or with constant
-- defaults, so adding them rewrites no table; a worker of an earlier version, whose heartbeat
-- names the first columns only, registers with the defaults.
ALTER TABLE {schema}.jobs ADD COLUMN unknown_since float8;
ALTER TABLE {schema}.workers
    ADD COLUMN tasks text[] NOT NULL DEFAULT ARRAY[]::text[],
    ADD COLUMN lease float8 NOT NULL DEFAULT 30,
    ADD COLUMN processed bigint NOT NULL DEFAULT 0,
    ADD COLUMN per_minute integer NOT NULL DEFAULT 0;
