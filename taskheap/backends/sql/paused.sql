-- The paused queues.
SELECT name FROM {schema}.queues WHERE paused
