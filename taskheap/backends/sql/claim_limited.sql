-- claim.sql for requested queues some of which hold limits, after claim_lock.sql in the same
-- transaction. A limited queue's room: `limit`, its free slots (concurrency minus its running
-- jobs, counted by jobs_running_groups) and its rate's room (rate minus its starts after
-- now - period); with a group_concurrency, its best GROUP_SCAN queued jobs are looked at and
-- those whose group has no free slot skipped (so they block nothing behind them). Queues
-- without limits take their heads as in claim.sql. The starts of queues with a rate are
-- recorded, and their starts out of the window deleted. The candidates are not locked: the
-- lock of claim_lock.sql keeps other claimers of a limited queue out (claim.sql skips them), and
-- the update takes a job only if it is still queued (an admin's cancel meanwhile wins); locking
-- GROUP_SCAN rows a claim would cost more than the whole claim.
-- Parameters: queues, worker, limit, lease, now, group_scan (queue_limits.GROUP_SCAN).
WITH clock AS (
    SELECT coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8) AS now
),
requested AS MATERIALIZED (
    SELECT r.name, l.concurrency, l.rate, l.period, l.group_concurrency
    FROM unnest(%(queues)s::text[]) AS r (name)
    LEFT JOIN {schema}.queue_limits AS l ON l.name = r.name
    WHERE NOT EXISTS (SELECT FROM {schema}.queues WHERE queues.name = r.name AND queues.paused)
),
trimmed AS (
    DELETE FROM {schema}.queue_starts AS s USING requested, clock
    WHERE s.queue = requested.name AND s.at <= clock.now - requested.period
),
room AS MATERIALIZED (
    SELECT requested.*, least(
        %(limit)s::int,
        requested.concurrency - (
            SELECT count(*) FROM {schema}.jobs WHERE queue = requested.name AND state = 'running'
        ),
        requested.rate - (
            SELECT count(*) FROM {schema}.queue_starts AS s, clock
            WHERE s.queue = requested.name AND s.at > clock.now - requested.period
        )
    ) AS room
    FROM requested
),
candidates AS MATERIALIZED (
    SELECT room.name, room.group_concurrency, room.room, head.id, head.rank, head.grp
    FROM room CROSS JOIN LATERAL (
        SELECT id, rank, grp FROM {schema}.jobs
        WHERE queue = room.name AND state = 'queued' AND room.room > 0
        ORDER BY rank, id
        LIMIT CASE WHEN room.group_concurrency IS NULL THEN greatest(room.room, 0)
            ELSE %(group_scan)s::int END
    ) AS head
),
running_groups AS (
    SELECT jobs.queue, jobs.grp, count(*) AS running
    FROM {schema}.jobs JOIN requested ON jobs.queue = requested.name
    WHERE requested.group_concurrency IS NOT NULL AND jobs.state = 'running' AND jobs.grp IS NOT NULL
    GROUP BY 1, 2
),
grouped AS (
    SELECT candidates.*,
        row_number() OVER (PARTITION BY name, grp ORDER BY rank, id) AS nth_in_group
    FROM candidates
),
eligible AS (
    SELECT grouped.*, row_number() OVER (PARTITION BY name ORDER BY rank, id) AS nth
    FROM grouped
    WHERE grp IS NULL OR group_concurrency IS NULL OR nth_in_group + coalesce((
        SELECT running FROM running_groups WHERE running_groups.queue = grouped.name
            AND running_groups.grp = grouped.grp
    ), 0) <= group_concurrency
),
picked AS (
    SELECT id FROM eligible WHERE nth <= room ORDER BY rank, id LIMIT %(limit)s::int
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
    INSERT INTO {schema}.queue_starts (queue, at)
    SELECT claimed.queue, clock.now FROM claimed, clock, requested
    WHERE requested.name = claimed.queue AND requested.rate IS NOT NULL
)
SELECT * FROM claimed
