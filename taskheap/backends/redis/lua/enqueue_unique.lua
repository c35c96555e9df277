-- enqueue_unique: jobs of one queue, some with a unique key, written into place (not through the
-- inbox: no inbox wire format carries a key, and the key must be taken in the same atomic step as
-- the job is stored). A job whose key is held enqueues nothing and is reported with the holder:
--   unique:<key>  string: the id of the job holding <key> while it is in a unique state (queued,
--                 scheduled, running, retrying); deleted by the script of every transition out of
--                 them (release_key), so it lives exactly as long as its holder is active
--   window:<key>  string: "<id>|<held_until>" of the job that took <key> for a window; held until
--                 held_until by the given clock (PX of the window too, so Redis drops it then)
-- With a max_length, the queue is ingested and counted first, as enqueue.lua does, and the jobs
-- stored only if all those not duplicates fit. Idempotent: a job found holding its own key (a call
-- retried after a lost reply) is neither stored again nor reported.
-- KEYS as enqueue.lua's. ARGV[1] now ('' = server time), ARGV[2] max_length ('' = none), then 16
-- fields per job: id, task, queue, priority, rank, payload, enqueued_at, run_at (''), retries,
-- backoff (''), timeout (''), meta (''), expires_at (''), group (''), unique_key ('' = none),
-- unique_for ('').
-- Returns {left, aside, waiting, pushed, duplicates}: left, aside, waiting and pushed as
-- enqueue.lua's; duplicates a flat list of (job id, holder id) pairs.
local aside = {}
if ARGV[2] ~= '' then
  local left
  left, aside = ingest()
  if left > 0 then
    return { left, aside, 0, 0, {} }
  end
end
local now_n = clock(ARGV[1])
local jobs, duplicates, keys, taken = {}, {}, {}, {}
for i = 3, #ARGV, 16 do
  local job = { unpack(ARGV, i, i + 13) }
  local id, key, window = job[1], ARGV[i + 14], ARGV[i + 15]
  local slot, holder = nil, nil
  if key ~= '' then
    slot = Q .. (window == '' and 'unique:' or 'window:') .. key
    holder = taken[slot]
    if not holder then
      local value = redis.call('GET', slot)
      if value then
        local held_by, held_until = value:match('^([^|]*)|?(.*)$')
        if held_until ~= '' then
          holder = tonumber(held_until) > now_n and held_by or nil
        else
          holder = key_holder(slot)
        end
      end
    end
  end
  if holder == nil then
    if job[13] == '' then
      job[13] = nil
    end
    jobs[#jobs + 1] = job
    if slot then
      taken[slot] = id
      keys[#keys + 1] = { id, slot, key, window }
    end
  elseif holder ~= id then
    append(duplicates, id, holder)
  end
end
local waiting = 0
if ARGV[2] ~= '' then
  waiting = waiting_jobs()
  if waiting + #jobs > tonumber(ARGV[2]) then
    return { 0, aside, waiting, 0, duplicates }
  end
end
store(jobs)
for _, held in ipairs(keys) do
  local id, slot, key, window = unpack(held)
  if window == '' then
    redis.call('SET', slot, id)
    redis.call('HSET', job_key(id), 'unique_key', key, 'holds', key)
  else
    local seconds = tonumber(window)
    redis.call('SET', slot, id .. '|' .. fmt(now_n + seconds), 'PX', math.ceil(seconds * 1000))
    redis.call('HSET', job_key(id), 'unique_key', key, 'unique_for', window)
  end
end
if #jobs > 0 then
  wake(1)
end
return { 0, aside, waiting, 1, duplicates }
