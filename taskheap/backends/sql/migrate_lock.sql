-- Serialize migrate() across every process sharing the schema, until the transaction ends.
-- Parameters: key (a name for the lock).
SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0))
