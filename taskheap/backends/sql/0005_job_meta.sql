-- Migration 5: a per-job JSON object of what a job carries that no claim or index reads (headers
-- and the like; docs/architecture.md says what goes where). Text, stored and returned verbatim:
-- NULL for a job without any, which costs nothing.
ALTER TABLE {schema}.jobs ADD COLUMN meta text;
