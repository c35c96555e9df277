-- Migration 11: when a cancel was asked of the job while it ran (NULL: never), which its worker
-- polls for (cancel_requests.sql). Nullable, so adding it rewrites no table.
-- And the progress its run last reported (JSON text), with when the store took it.
ALTER TABLE {schema}.jobs ADD COLUMN cancel_requested_at float8;
ALTER TABLE {schema}.jobs ADD COLUMN progress text;
ALTER TABLE {schema}.jobs ADD COLUMN progress_at float8;
