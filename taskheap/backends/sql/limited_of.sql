-- Which of the requested queues hold limits: claim.sql never claims from those, and the client
-- claims them with claim_limited.sql from then on. Sent in the claim's round trip.
-- Parameters: queues.
SELECT name FROM {schema}.queue_limits WHERE name = ANY(%(queues)s::text[])
