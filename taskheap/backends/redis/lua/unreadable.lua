-- unreadable: turn inbox entries that ingest set aside as unreadable (take, in lib.lua) into dead
-- jobs, one per entry: each shows among the dead letters with what was wrong, its payload the entry
-- as it was pushed, and can be purged. (Ingest cannot do it itself: it has no id to give them.)
-- KEYS[1] queue key prefix; KEYS[2] the id -> queue index (standalone only; on a Cluster the
-- client writes it)
-- ARGV[1] the queue's name, ARGV[2] now ('' = server time), then a fresh job id per entry to take
-- Returns the ids given to entries (the first ones of ARGV[3..]; fewer when fewer were left).
local queue = ARGV[1]
local minute_n, now = clock(ARGV[2])
local minute = string.format('%d', math.floor(minute_n / 60) * 60)
local used = {}
for i = 3, #ARGV do
  local entry = redis.call('LPOP', Q .. 'inbox:unreadable')
  if not entry then
    break
  end
  local id = ARGV[i]
  local _, reason = readable(entry)
  redis.call('HSET', job_key(id), 'id', id, 'task', '', 'queue', queue, 'priority', 5, 'rank', 0,
    'payload', entry, 'retries', 0, 'attempts', 0, 'enqueued_at', now, 'finished_at', now,
    'error', 'unreadable inbox entry: ' .. (reason or 'unknown'))
  attach(id, 'dead', 0, 5)
  if KEYS[2] then
    redis.call('HSET', KEYS[2], id, queue)
  end
  used[#used + 1] = id
end
if #used > 0 then
  count(minute, '', { dead = #used })
  count(ALL_TIME, '', { dead = #used })
end
return used
