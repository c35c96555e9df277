-- Delete the per-minute counter rows before a minute (the ALL_TIME rows are far beyond any);
-- run after fold_minutes.sql, so the deltas of those minutes are folded in and go with them
-- (a delta another session was folding meanwhile goes at the next call). Parameters: before.
DELETE FROM {schema}.minutes WHERE minute < %(before)s::bigint
