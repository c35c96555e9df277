-- claim: promote due jobs, then lease the best `limit` queued jobs by (rank, id).
-- KEYS[1] queue key prefix
-- ARGV[1] now ('' = server time), ARGV[2] lease seconds, ARGV[3] worker id, ARGV[4] limit,
-- ARGV[5] token suffix (fresh random per call, ends with '@<queue>'); job n's token is n .. suffix
-- Returns nothing if the queue is paused, else 10 fields per job: id, task, priority, payload,
-- attempts, retries, backoff, timeout, token, rank ('' for absent fields).
if redis.call('EXISTS', Q .. 'paused') == 1 then
  return {}
end
local now, now_s = clock(ARGV[1])
promote(now_s, 1000)
local popped = redis.call('ZPOPMIN', Q .. 'queued', ARGV[4])
local lease_until = fmt(now + tonumber(ARGV[2]))
local out = {}
for i = 1, #popped, 2 do
  local id, rank = popped[i], popped[i + 1]
  local job = job_key(id)
  local token = ((i + 1) / 2) .. ARGV[5]
  move(id, 'queued', 'running', lease_until)
  local attempts = redis.call('HINCRBY', job, 'attempts', 1)
  redis.call('HSET', job, 'token', token, 'lease_until', lease_until, 'worker', ARGV[3])
  redis.call('HSETNX', job, 'started_at', now_s)
  local task, priority, payload, retries, backoff, timeout =
    unpack(redis.call('HMGET', job, 'task', 'priority', 'payload', 'retries', 'backoff', 'timeout'))
  for _, value in ipairs({id, task, priority, payload, attempts, retries, backoff or '', timeout or '',
      token, rank}) do
    out[#out + 1] = value
  end
end
if redis.call('ZCARD', Q .. 'queued') == 0 then
  redis.call('DEL', Q .. 'wake')
else
  wake(1)
end
return out
