-- expire_due: cancel, "expired", the jobs of `expiring` due by now that still wait unstarted
-- (queued or scheduled, attempts 0) with that expiry (a replayed dead job has none); every due member taken is dropped from `expiring`, whatever
-- became of its job (claimed, finished, deleted).
-- KEYS[1] queue key prefix; KEYS[2], KEYS[3] the id -> queue index and the known queues (standalone only): the script ingests
-- (a bounded batch of) the inbox first
-- ARGV[1] now ('' = server time), ARGV[2] limit (members taken at most)
-- Returns id, task pairs of the jobs cancelled, then the entries its ingest set aside (take, in lib.lua).
local _, aside = ingest()
local now_n, now = clock(ARGV[1])
local due = redis.call('ZRANGE', Q .. 'expiring', '-inf', now, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(due) do
  local job = job_key(id)
  local state, attempts, task, expires_at, holds = unpack(redis.call('HMGET', job, 'state', 'attempts', 'task',
    'expires_at', 'holds'))
  local expiry = expires_at and tonumber(expires_at)
  if (state == 'queued' or state == 'scheduled') and attempts == '0' and expiry and expiry <= now_n then
    move(id, state, 'cancelled', now)
    release_key(id, holds)
    redis.call('HSET', job, 'error', 'expired', 'finished_at', now)
    redis.call('HDEL', job, 'run_at')
    append(out, id, task)
  end
end
bulk('ZREM', Q .. 'expiring', due)
return { out, aside }
