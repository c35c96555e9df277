-- Every queue with limits, its running jobs, its starts in its rate's window ending at now and
-- the oldest of them. Parameters: now (NULL: the database clock).
WITH clock AS (
    SELECT coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8) AS now
)
SELECT l.name, l.concurrency, l.rate, l.period, l.group_concurrency,
    (SELECT count(*) FROM {schema}.jobs WHERE queue = l.name AND state = 'running'),
    coalesce(w.started, 0), w.oldest, clock.now
FROM {schema}.queue_limits AS l CROSS JOIN clock
LEFT JOIN LATERAL (
    SELECT coalesce(sum(s.n), 0) AS started, min(s.at) AS oldest FROM {schema}.queue_starts AS s
    WHERE s.queue = l.name AND s.at > clock.now - l.period
) AS w ON l.period IS NOT NULL
ORDER BY l.name
