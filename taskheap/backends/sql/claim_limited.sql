-- claim.sql for requested queues some of which hold limits, after claim_lock.sql in the same
-- transaction. A limited queue's room: `limit`, its free slots (concurrency minus its running
-- jobs, counted by jobs_running_groups) and its rate's room (rate minus its starts after
-- now - period: its rows of queue_starts at or before are deleted first, and
-- queue_limits.started is the sum of `n` of those kept, so no count of the window); with a group_concurrency, its best queued jobs are
-- walked (at most GROUP_SCAN) until the room is taken, those whose group has no free slot
-- skipped (so they block nothing behind them). Queues without limits take their heads as in
-- claim.sql. The starts of queues with a rate are recorded, a row per queue (its `n` the jobs it
-- claimed, all started at now), and `started` kept their sum. The candidates are not locked: the
-- lock of claim_lock.sql keeps other claimers of a limited queue out (claim.sql skips them), and
-- the update takes a job only if it is still queued (an admin's cancel meanwhile wins); locking
-- GROUP_SCAN rows a claim would cost more than the whole claim.
-- Parameters: queues, worker, limit, lease, now, group_scan (queue_limits.GROUP_SCAN).
WITH RECURSIVE clock AS (
    SELECT coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8) AS now
),
requested AS MATERIALIZED (
    SELECT r.name, l.concurrency, l.rate, l.period, l.group_concurrency, l.started
    FROM unnest(%(queues)s::text[]) AS r (name)
    LEFT JOIN {schema}.queue_limits AS l ON l.name = r.name
    WHERE NOT EXISTS (SELECT FROM {schema}.queues WHERE queues.name = r.name AND queues.paused)
),
trimmed AS (
    DELETE FROM {schema}.queue_starts WHERE ctid = ANY(ARRAY(
        SELECT old.ctid FROM requested, clock CROSS JOIN LATERAL (
            SELECT ctid FROM {schema}.queue_starts AS s
            WHERE s.queue = requested.name AND s.at <= clock.now - requested.period
            ORDER BY s.at  -- a walk of queue_starts_by_time per queue, not a join of the table
        ) AS old
    ))
    RETURNING queue, n
),
room AS MATERIALIZED (
    SELECT requested.*, least(
        %(limit)s::int,
        requested.concurrency - (
            SELECT count(*) FROM {schema}.jobs WHERE queue = requested.name AND state = 'running'
        ),
        requested.rate - requested.started
            + (SELECT coalesce(sum(n), 0) FROM trimmed WHERE trimmed.queue = requested.name)::int
    ) AS room
    FROM requested
),
candidates AS MATERIALIZED (
    SELECT head.id, head.rank
    FROM room CROSS JOIN LATERAL (
        SELECT id, rank FROM {schema}.jobs
        WHERE queue = room.name AND state = 'queued' AND room.room > 0
        ORDER BY rank, id
        LIMIT greatest(room.room, 0)
    ) AS head
    WHERE room.group_concurrency IS NULL
),
-- A queue with a group_concurrency: its queued jobs one at a time in (rank, id) order (an index
-- probe each), `fits` those whose group has a free slot, until the room is taken or GROUP_SCAN
-- seen. `occupied`: group -> its running jobs (counted when the group is first seen) plus those
-- taken since.
walk (name, group_concurrency, room, rank, id, taken, seen, occupied, fits) AS (
    SELECT name, group_concurrency, room, '-infinity'::float8, ''::text COLLATE "C", 0, 0,
        '{{}}'::jsonb, false
    FROM room WHERE group_concurrency IS NOT NULL AND room > 0
    UNION ALL
    SELECT w.name, w.group_concurrency, w.room, head.rank, head.id, w.taken + fit.fits::int,
        w.seen + 1, CASE WHEN head.grp IS NULL THEN w.occupied ELSE jsonb_set(
            w.occupied, ARRAY[head.grp], to_jsonb(fit.occupied + fit.fits::int)
        ) END, fit.fits
    FROM walk AS w CROSS JOIN LATERAL (
        SELECT id, rank, grp FROM {schema}.jobs
        WHERE queue = w.name AND state = 'queued' AND (rank, id) > (w.rank, w.id)
        ORDER BY rank, id
        LIMIT 1
    ) AS head CROSS JOIN LATERAL (
        SELECT occupied, head.grp IS NULL OR occupied < w.group_concurrency AS fits
        FROM (
            SELECT coalesce((w.occupied ->> head.grp)::int, (
                SELECT count(*) FROM {schema}.jobs
                WHERE queue = w.name AND state = 'running' AND grp = head.grp
            )::int) AS occupied
            OFFSET 0  -- evaluated once, not in each of its uses
        ) AS counted
    ) AS fit
    WHERE w.taken < w.room AND w.seen < %(group_scan)s::int
),
picked AS (
    SELECT id, rank FROM candidates
    UNION ALL
    SELECT id, rank FROM walk WHERE fits
    ORDER BY rank, id
    LIMIT %(limit)s::int
),
claimed AS (
    UPDATE {schema}.jobs SET {claim_lease}
    FROM clock
    -- still queued, said so that the planner keeps to the primary key (a plain `state = 'queued'`
    -- matches jobs_runnable's predicate, and it scanned the whole queue through that index)
    WHERE jobs.id = ANY(ARRAY(SELECT id FROM picked)) AND coalesce(jobs.state = 'queued', false)
    RETURNING {claimed_columns}
),
started AS (
    INSERT INTO {schema}.queue_starts (queue, at, n)
    SELECT claimed.queue, clock.now, count(*) FROM claimed, clock, requested
    WHERE requested.name = claimed.queue AND requested.rate IS NOT NULL
    GROUP BY claimed.queue, clock.now
    RETURNING queue, n
),
counted AS (
    UPDATE {schema}.queue_limits AS l SET started = l.started
        + (SELECT coalesce(sum(n), 0) FROM started WHERE started.queue = l.name)::int
        - (SELECT coalesce(sum(n), 0) FROM trimmed WHERE trimmed.queue = l.name)::int
    WHERE l.name IN (SELECT name FROM requested WHERE rate IS NOT NULL)
)
SELECT * FROM claimed
