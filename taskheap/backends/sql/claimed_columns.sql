-- What a claim returns (claim.sql, claim_limited.sql): rank first, then the ClaimedJob fields.
jobs.rank, jobs.id, jobs.task, jobs.queue, jobs.priority, jobs.payload, jobs.attempts,
jobs.retries, jobs.backoff, jobs.timeout, jobs.token, jobs.meta, jobs.enqueued_at,
coalesce(jobs.attempts = 1 AND jobs.expires_at <= clock.now, false) AS past_expiry
