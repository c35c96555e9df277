-- claim: ingest the inbox, promote due jobs, then lease the best `limit` queued jobs by (rank, id).
-- KEYS[1] queue key prefix; KEYS[2], KEYS[3] the id -> queue index and the known queues (standalone only)
-- ARGV[1] now ('' = server time), ARGV[2] lease seconds, ARGV[3] worker id, ARGV[4] limit,
-- ARGV[5] token suffix (fresh random per call, ends with '@<queue>'); job n's token is n .. suffix
-- Returns the number of inbox entries left, then 10 fields per job: id, task, priority, payload,
-- attempts, retries, backoff, timeout, token, rank ('' for absent fields). Nothing is claimed
-- while entries are left (one of them may outrank the queued jobs: the caller ingests the rest
-- and claims again) nor while the queue is paused.
-- The jobs move together: one command per set for the whole batch, one HMGET and HSET per job.
local left = ingest()
if left > 0 or redis.call('EXISTS', Q .. 'paused') == 1 then
  return { left }
end
local now, now_s = clock(ARGV[1])
promote(now_s, 1000)
local popped = redis.call('ZPOPMIN', Q .. 'queued', ARGV[4])
local lease_until = fmt(now + tonumber(ARGV[2]))
local out, ids, leases, listed, depths = { 0 }, {}, {}, {}, {}
for i = 1, #popped, 2 do
  local id, rank = popped[i], popped[i + 1]
  local job = job_key(id)
  local token = ((i + 1) / 2) .. ARGV[5]
  local task, priority, payload, attempts, retries, backoff, timeout, started_at = unpack(redis.call(
    'HMGET', job, 'task', 'priority', 'payload', 'attempts', 'retries', 'backoff', 'timeout', 'started_at'))
  attempts = tonumber(attempts) + 1
  redis.call('HSET', job, 'state', 'running', 'attempts', attempts, 'token', token,
    'lease_until', lease_until, 'worker', ARGV[3], 'started_at', started_at or now_s)
  ids[#ids + 1] = id
  append(leases, lease_until, id)
  append(listed, 0, id)
  depths[priority] = (depths[priority] or 0) + 1
  for _, value in ipairs({ id, task, priority, payload, attempts, retries, backoff or '', timeout or '',
    token, rank }) do
    out[#out + 1] = value
  end
end
if #ids > 0 then
  bulk('ZREM', Q .. 'state:queued', ids)
  bulk('ZADD', Q .. 'state:running', listed)
  bulk('ZADD', Q .. 'leases', leases)
  forget_depths(depths)
end
if redis.call('ZCARD', Q .. 'queued') > 0 then
  wake(1) -- jobs are left: pass the wake-up on to the next idle worker
end
return out
