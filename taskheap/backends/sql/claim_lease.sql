-- The lease a claim gives (claim.sql, claim_limited.sql): a fresh token, attempts + 1.
-- Parameters: lease, worker; the CTE clock.
state = 'running',
attempts = attempts + 1,
token = gen_random_uuid()::text,
lease_until = clock.now + %(lease)s::float8,
worker = %(worker)s,
started_at = clock.now
