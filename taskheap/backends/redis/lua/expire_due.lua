-- expire_due: cancel, "expired", the jobs of `expiring` due by now that still wait unstarted
-- (queued or scheduled, attempts 0); every due member taken is dropped from `expiring`, whatever
-- became of its job (claimed, finished, deleted).
-- KEYS[1] queue key prefix
-- ARGV[1] now ('' = server time), ARGV[2] limit (members taken at most)
-- Returns id, task pairs of the jobs cancelled.
local _, now = clock(ARGV[1])
local due = redis.call('ZRANGE', Q .. 'expiring', '-inf', now, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(due) do
  local job = job_key(id)
  local state, attempts, task = unpack(redis.call('HMGET', job, 'state', 'attempts', 'task'))
  if (state == 'queued' or state == 'scheduled') and attempts == '0' then
    move(id, state, 'cancelled', now)
    redis.call('HSET', job, 'error', 'expired', 'finished_at', now)
    redis.call('HDEL', job, 'run_at')
    append(out, id, task)
  end
end
bulk('ZREM', Q .. 'expiring', due)
return out
