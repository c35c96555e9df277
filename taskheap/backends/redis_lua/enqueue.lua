-- enqueue: insert jobs of one queue; a job whose id exists is skipped (retried calls are safe).
-- KEYS[1] queue key prefix; KEYS[2] the id -> queue index and KEYS[3] the known-queues set, both
--         optional (on a Cluster they live on another slot: the caller writes them alongside)
-- ARGV[1] queue name; ARGV[2] a JSON array of jobs, each an array of 10 strings: id, task,
--         priority, rank, payload, enqueued_at, run_at ('' = runnable now), retries,
--         backoff (''), timeout (''); ARGV[3] the ALL_TIME minute
-- The jobs added count in the `enqueued` counters of their enqueue minute and of ALL_TIME.
-- Returns the number of jobs added.
local queue = ARGV[1]
local ranked, due, listed, located, depths = {}, {}, { queued = {}, scheduled = {} }, {}, {}
local added, last_at, minute = {}, nil, nil -- added: minute -> task -> jobs added
for _, job in ipairs(cjson.decode(ARGV[2])) do
  local id, task, priority, rank, payload, enqueued_at, run_at, retries, backoff, timeout = unpack(job)
  local key = job_key(id)
  if redis.call('EXISTS', key) == 0 then
    local state = run_at == '' and 'queued' or 'scheduled'
    local fields = { 'id', id, 'task', task, 'queue', queue, 'priority', priority, 'rank', rank,
      'payload', payload, 'attempts', 0, 'retries', retries, 'enqueued_at', enqueued_at, 'state', state }
    if backoff ~= '' then append(fields, 'backoff', backoff) end
    if timeout ~= '' then append(fields, 'timeout', timeout) end
    if state == 'queued' then
      append(ranked, rank, id)
      depths[priority] = (depths[priority] or 0) + 1
    else
      append(fields, 'run_at', run_at)
      append(due, run_at, id)
    end
    redis.call('HSET', key, unpack(fields))
    append(listed[state], 0, id)
    append(located, id, queue)
    if enqueued_at ~= last_at then -- one call's jobs share their enqueue time
      last_at, minute = enqueued_at, string.format('%d', math.floor(tonumber(enqueued_at) / 60) * 60)
      added[minute] = added[minute] or {}
    end
    added[minute][task] = (added[minute][task] or 0) + 1
  end
end
local all_time = {} -- task -> jobs added
for minute, tasks in pairs(added) do
  for task, n in pairs(tasks) do
    count(minute, task, { enqueued = n })
    all_time[task] = (all_time[task] or 0) + n
  end
end
for task, n in pairs(all_time) do
  count(ARGV[3], task, { enqueued = n })
end
for _, state in ipairs({ 'queued', 'scheduled' }) do
  bulk('ZADD', Q .. 'state:' .. state, listed[state])
end
bulk('ZADD', Q .. 'queued', ranked)
bulk('ZADD', Q .. 'waiting', due)
for priority, n in pairs(depths) do
  redis.call('HINCRBY', Q .. 'priorities', priority, n)
end
if KEYS[2] then
  bulk('HSET', KEYS[2], located)
  redis.call('SADD', KEYS[3], queue)
end
local added = #located / 2
if added > 0 then
  wake(math.max(#ranked / 2, 1))
end
return added
