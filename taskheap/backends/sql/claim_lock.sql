-- Lock the limits rows of the requested queues that have limits, in name order (every claimer
-- locks in that order: no deadlock), until the transaction ends: claimers of a limited queue
-- take turns, so the counts of claim_limited.sql, a later statement with a later snapshot,
-- see every committed claim of it. Queues without limits have no row: they lock nothing.
-- Parameters: queues. Returns the limited queues.
SELECT name FROM {schema}.queue_limits WHERE name = ANY(%(queues)s::text[]) ORDER BY name FOR UPDATE
