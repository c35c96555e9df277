-- expired (read-only): running jobs whose lease ran out, with their current token.
-- KEYS[1] queue key prefix
-- ARGV[1] now ('' = server time), ARGV[2] limit
-- Returns 13 fields per job, as claim does (past_expiry always '').
local _, now = clock(ARGV[1])
local ids = redis.call('ZRANGE', Q .. 'leases', '-inf', '(' .. now, 'BYSCORE', 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  local fields = redis.call('HMGET', job_key(id), 'id', 'task', 'priority', 'payload', 'attempts',
    'retries', 'backoff', 'timeout', 'token', 'rank', 'meta', 'enqueued_at')
  for n = 1, 12 do
    out[#out + 1] = fields[n] or ''
  end
  out[#out + 1] = ''
end
return out
