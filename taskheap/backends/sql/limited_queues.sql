-- Every queue with limits, its running jobs and its starts in its rate's window ending at now.
-- Parameters: now (NULL: the database clock).
WITH clock AS (
    SELECT coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8) AS now
)
SELECT l.name, l.concurrency, l.rate, l.period, l.group_concurrency,
    (SELECT count(*) FROM {schema}.jobs WHERE queue = l.name AND state = 'running'),
    CASE WHEN l.period IS NULL THEN 0 ELSE (
        SELECT count(*) FROM {schema}.queue_starts AS s WHERE s.queue = l.name AND s.at > clock.now - l.period
    ) END
FROM {schema}.queue_limits AS l, clock
ORDER BY l.name
