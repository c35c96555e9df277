-- Migration 4: the `enqueued` counters become an append-only log of deltas, folded on read.
-- enqueue.sql used to upsert the minute and ALL_TIME rows of `minutes`: inside a caller's long
-- transaction that held their row locks until it committed, so every other producer of the
-- task waited behind it, and two transactions enqueuing two tasks in opposite orders
-- deadlocked. Now enqueue only appends here, locking no shared row; fold_minutes.sql moves
-- committed deltas into `minutes` (which keeps its `enqueued` column), and minutes.sql adds
-- the deltas not folded yet, so reads are exact at any time.
CREATE TABLE {schema}.minute_deltas (
    minute bigint NOT NULL,
    queue text COLLATE "C" NOT NULL,
    task text COLLATE "C" NOT NULL,
    enqueued bigint NOT NULL
);
