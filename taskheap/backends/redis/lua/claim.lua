-- claim: ingest the inbox, promote due jobs, then lease the best `limit` queued jobs by (rank, id),
-- within the queue's limits (its `limits` hash: running jobs, starts in the window, per group).
-- KEYS[1] queue key prefix; KEYS[2], KEYS[3] the id -> queue index and the known queues (standalone only)
-- ARGV[1] now ('' = server time), ARGV[2] lease seconds, ARGV[3] worker id, ARGV[4] limit,
-- ARGV[5] token suffix (fresh random per call, ends with '@<queue>'); job n's token is n .. suffix
-- Returns the number of inbox entries left, the entries set aside for a newer taskheap (take, in
-- lib.lua: a list of version, count), then 13 fields per job: id, task, priority, payload,
-- attempts, retries, backoff, timeout, token, rank, meta, enqueued_at ('' for absent fields),
-- past_expiry ('1': its first attempt, claimed at or after its expires_at; else ''). Nothing is claimed
-- while entries are left (one of them may outrank the queued jobs: the caller ingests the rest
-- and claims again) nor while the queue is paused.
-- When nothing was queued, the best fresh jobs are leased as they are stored (the wake-up path
-- of an idle worker: 15 commands instead of 25); otherwise the jobs move together: one command per
-- set for the whole batch, one HMGET and HSET per job.
local fresh, left, aside = take()
if left > 0 or redis.call('EXISTS', Q .. 'paused') == 1 then
  store(fresh)
  return { left, aside }
end
local now, now_s = clock(ARGV[1])
for _, job in ipairs(fresh) do
  if job[8] ~= '' and tonumber(job[8]) <= now then
    job[8] = '' -- due already: runnable, as promotion would make it
  end
end
promote(now_s, 1000)
local limit = tonumber(ARGV[4])
-- The queue's limits (the `limits` hash, lib.lua): the claim takes only what they allow now.
local limits = redis.call('HMGET', Q .. 'limits', 'concurrency', 'rate', 'period', 'group_concurrency')
local concurrency, rate, period, per_group = tonumber(limits[1]), tonumber(limits[2]), tonumber(limits[3]),
  tonumber(limits[4])
local limited = concurrency or rate or per_group
if concurrency then
  limit = math.min(limit, concurrency - redis.call('ZCARD', Q .. 'leases')) -- its running jobs
end
if rate then -- the sliding window: starts after now - period
  redis.call('ZREMRANGEBYSCORE', Q .. 'starts', '-inf', fmt(now - period))
  limit = math.min(limit, rate - redis.call('ZCARD', Q .. 'starts'))
end
local lease_until = fmt(now + tonumber(ARGV[2]))
local out, ids, leases, listed = { 0, aside }, {}, {}, {}
local started = {} -- first attempts of jobs with an expiry: off `expiring`

-- Lease a job: its token (listing it among the running and returning it).
local function lease(id, task, priority, payload, attempts, retries, backoff, timeout, rank, meta, enqueued_at,
                     first, expires_at)
  ids[#ids + 1] = id
  local token = #ids .. ARGV[5]
  append(leases, lease_until, id)
  append(listed, 0, id)
  local expiry = first and expires_at and tonumber(expires_at)
  local past_expiry = expiry and expiry <= now and '1' or ''
  if first and expires_at then
    started[#started + 1] = id
  end
  for _, value in ipairs({ id, task, priority, payload, attempts, retries, backoff, timeout, token, rank, meta,
    enqueued_at, past_expiry }) do
    out[#out + 1] = value
  end
  return token
end

-- The best queued jobs a group-limited queue may start, at most `n`, taken off `queued` (as a
-- ZPOPMIN reply): of its best GROUP_SCAN (queue_limits.GROUP_SCAN), those of a group with a
-- free slot; the others wait queued without blocking the jobs behind them.
local GROUP_SCAN = 1000
local function pick(n)
  if n <= 0 then
    return {}
  end
  if not per_group then
    return redis.call('ZPOPMIN', Q .. 'queued', n)
  end
  local running = {}
  for _, id in ipairs(redis.call('ZRANGE', Q .. 'leases', 0, -1)) do
    local group = redis.call('HGET', job_key(id), 'group')
    if group then
      running[group] = (running[group] or 0) + 1
    end
  end
  -- read in chunks of a few times n: the scan stops once n are taken, not after GROUP_SCAN
  local picked, taken, seen = {}, {}, 0
  while #taken < n and seen < GROUP_SCAN do
    local chunk = math.min(GROUP_SCAN - seen, 4 * n)
    local heads = redis.call('ZRANGE', Q .. 'queued', seen, seen + chunk - 1, 'WITHSCORES')
    for i = 1, #heads, 2 do
      local group = redis.call('HGET', job_key(heads[i]), 'group')
      if not group or (running[group] or 0) < per_group then
        if group then
          running[group] = (running[group] or 0) + 1
        end
        append(picked, heads[i], heads[i + 1])
        taken[#taken + 1] = heads[i]
        if #taken == n then
          break
        end
      end
    end
    seen = seen + chunk
    if #heads < 2 * chunk then
      break
    end
  end
  if #taken > 0 then
    bulk('ZREM', Q .. 'queued', taken)
  end
  return picked
end

if not limited and redis.call('ZCARD', Q .. 'queued') == 0 then
  local runnable = {}
  for _, job in ipairs(fresh) do
    if job[8] == '' then -- no run_at
      runnable[#runnable + 1] = job
    end
  end
  if #runnable > limit then
    table.sort(runnable, function(a, b)
      local x, y = tonumber(a[5]), tonumber(b[5])
      return x < y or (x == y and a[1] < b[1])
    end)
  end
  local runs = {}
  for i = 1, math.min(limit, #runnable) do
    local id, task, _, priority, rank, payload, enqueued_at, _, retries, backoff, timeout, meta, expires_at =
      unpack(runnable[i])
    local token = lease(id, task, priority, payload, 1, retries, backoff, timeout, rank, meta or '', enqueued_at,
      true, expires_at)
    runs[id] = { 'attempts', 1, 'token', token, 'lease_until', lease_until, 'worker', ARGV[3], 'started_at', now_s }
  end
  store(fresh, runs)
else
  store(fresh)
  local popped = pick(limit)
  local depths = {}
  for i = 1, #popped, 2 do
    local id, rank = popped[i], popped[i + 1]
    local job = job_key(id)
    local task, priority, payload, attempts, retries, backoff, timeout, meta, enqueued_at, expires_at =
      unpack(redis.call('HMGET', job, 'task', 'priority', 'payload', 'attempts', 'retries', 'backoff', 'timeout',
        'meta', 'enqueued_at', 'expires_at'))
    -- A hash written by hand may hold anything: attempts that are not a number go out as they are
    -- (the worker refuses the job, dead with the reason) instead of failing the script mid-claim.
    local counted = tonumber(attempts)
    attempts = counted and counted + 1 or attempts or ''
    local token = lease(id, task, priority, payload, attempts, retries, backoff or '', timeout or '', rank,
      meta or '', enqueued_at or '', counted == 0, expires_at)
    redis.call('HSET', job, 'state', 'running', 'attempts', attempts, 'token', token,
      'lease_until', lease_until, 'worker', ARGV[3], 'started_at', now_s)
    depths[priority] = (depths[priority] or 0) + 1
  end
  if #ids > 0 then
    bulk('ZREM', Q .. 'state:queued', ids)
    forget_depths(depths)
  end
end
if rate and #ids > 0 then
  local starts = {}
  for i = 1, #ids do
    append(starts, now_s, i .. ARGV[5]) -- the lease tokens: unique
  end
  bulk('ZADD', Q .. 'starts', starts)
end
if #ids > 0 then
  bulk('ZADD', Q .. 'state:running', listed)
  bulk('ZADD', Q .. 'leases', leases)
  bulk('ZREM', Q .. 'expiring', started)
end
if not limited and #ids == limit and redis.call('ZCARD', Q .. 'queued') > 0 then
  wake(1) -- jobs are left: pass the wake-up on to the next idle worker
end
return out
