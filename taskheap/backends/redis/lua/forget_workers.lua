-- forget_workers: drop registry entries of workers not seen for a while before now.
-- KEYS[1] workers hash, KEYS[2] last-seen zset
-- ARGV[1] now ('' = server time), ARGV[2] silence (seconds)
-- Returns the number forgotten.
local now = clock(ARGV[1])
local before = fmt(now - tonumber(ARGV[2]))
local ids = redis.call('ZRANGE', KEYS[2], '-inf', '(' .. before, 'BYSCORE')
for _, id in ipairs(ids) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
return #ids
