-- forget_workers: drop registry entries of workers not seen for a while before now.
-- KEYS[1] workers hash, KEYS[2] last-seen zset, KEYS[3] details hash
-- ARGV[1] now ('' = server time), ARGV[2] silence (seconds)
-- Returns the number forgotten. Details of workers no longer seen (forgotten here, or by an
-- earlier version, which knows no details) go too.
local now = clock(ARGV[1])
local before = fmt(now - tonumber(ARGV[2]))
local ids = redis.call('ZRANGE', KEYS[2], '-inf', '(' .. before, 'BYSCORE')
for _, id in ipairs(ids) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
for _, id in ipairs(redis.call('HKEYS', KEYS[3])) do
  if not redis.call('ZSCORE', KEYS[2], id) then
    redis.call('HDEL', KEYS[3], id)
  end
end
return #ids
