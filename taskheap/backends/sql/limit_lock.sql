-- Serialise enqueues into queues with a max_length, per queue, until the transaction ends: one
-- transaction-scoped advisory lock per limited queue of the call, taken in the order given
-- (queue name order, the same in every producer, so two calls never deadlock over them). The
-- count that follows (queue_room.sql) is a statement of its own, so its snapshot, taken after
-- the lock, sees every committed enqueue into those queues (READ COMMITTED). Returns the
-- transaction's isolation level: REPEATABLE READ would count in a snapshot older than the lock.
-- Parameters: keys (text[], one per limited queue: 'taskheap:limit:<schema>:<queue>').
SELECT current_setting('transaction_isolation'), count(pg_advisory_xact_lock(hashtextextended(key, 0)))
FROM unnest(%(keys)s::text[]) AS locked (key)
