-- Jobs per queue and state (non-zero only), and every configured queue with a NULL state.
SELECT queue, state, sum(n)::bigint FROM {schema}.job_counts
GROUP BY queue, state
HAVING sum(n) <> 0
UNION ALL
SELECT name, NULL, NULL FROM {schema}.queues
