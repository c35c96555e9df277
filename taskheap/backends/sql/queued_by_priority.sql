-- Queued (runnable) jobs per queue and priority, from the job_counts log.
SELECT queue, priority, sum(n)::bigint FROM {schema}.job_counts
WHERE state = 'queued'
GROUP BY queue, priority
HAVING sum(n) <> 0
