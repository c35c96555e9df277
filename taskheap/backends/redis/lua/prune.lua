-- prune: delete succeeded and cancelled jobs finished more than a retention before now (dead
-- letters are kept).
-- KEYS[1] queue key prefix
-- ARGV[1] now ('' = server time), ARGV[2] retention (seconds), ARGV[3] limit
-- Returns the deleted ids.
local now = clock(ARGV[1])
local before = fmt(now - tonumber(ARGV[2]))
local ids = redis.call('ZRANGE', Q .. 'finished', '-inf', '(' .. before, 'BYSCORE', 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do
  detach(id, redis.call('HGET', job_key(id), 'state'))
  delete_job(id)
end
return ids
