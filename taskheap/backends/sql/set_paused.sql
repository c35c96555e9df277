-- Pause or resume a queue. Parameters: queue, paused.
INSERT INTO {schema}.queues (name, paused) VALUES (%(queue)s, %(paused)s)
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused
