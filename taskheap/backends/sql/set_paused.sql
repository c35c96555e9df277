-- Pause or resume a queue. Parameters: queue, paused, channel.
-- Resuming also wakes idle workers of the queue (NOTIFY, sent at commit like the jobs trigger's):
-- they went to sleep on it while it was paused, and its queued jobs would send them no word.
WITH changed AS (
    INSERT INTO {schema}.queues (name, paused) VALUES (%(queue)s, %(paused)s)
    ON CONFLICT (name) DO UPDATE SET paused = excluded.paused
    RETURNING name, paused
)
SELECT pg_notify(%(channel)s, name) FROM changed WHERE NOT paused
