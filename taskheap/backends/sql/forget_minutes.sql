-- Delete the per-minute counter rows before a minute (the ALL_TIME rows are far beyond any).
-- Parameters: before.
DELETE FROM {schema}.minutes WHERE minute < %(before)s::bigint
