-- Migration 7: the `cancelled` per-minute counter (runs that raised Cancel, jobs that expired
-- before their first start). A constant default, so adding it rewrites no table; a worker of an
-- earlier version, whose record_minutes names the first counters only, leaves it 0.
ALTER TABLE {schema}.minutes ADD COLUMN cancelled bigint NOT NULL DEFAULT 0;
