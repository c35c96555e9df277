-- Store queues' limits (parallel arrays), replacing what was stored; a queue given no limit at
-- all is deleted (unlimited); a queue given limits anew counts its starts kept from before.
-- Parameters: names, concurrency, rate, period, group_concurrency.
WITH given AS (
    SELECT * FROM unnest(
        %(names)s::text[], %(concurrency)s::int[], %(rate)s::int[], %(period)s::float8[],
        %(group_concurrency)s::int[]
    ) AS g (name, concurrency, rate, period, group_concurrency)
),
dropped AS (
    DELETE FROM {schema}.queue_limits USING given
    WHERE queue_limits.name = given.name
        AND given.concurrency IS NULL AND given.rate IS NULL AND given.group_concurrency IS NULL
)
INSERT INTO {schema}.queue_limits (name, concurrency, rate, period, group_concurrency, started)
SELECT given.*, (SELECT coalesce(sum(n), 0) FROM {schema}.queue_starts WHERE queue = given.name)
FROM given
WHERE given.concurrency IS NOT NULL OR given.rate IS NOT NULL OR given.group_concurrency IS NOT NULL
ON CONFLICT (name) DO UPDATE SET
    concurrency = excluded.concurrency, rate = excluded.rate, period = excluded.period,
    group_concurrency = excluded.group_concurrency
