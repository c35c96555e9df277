-- forget_workers: drop registry entries of workers not seen since a time.
-- KEYS[1] workers hash, KEYS[2] last-seen zset
-- ARGV[1] seen_before
-- Returns the number forgotten.
local ids = redis.call('ZRANGE', KEYS[2], '-inf', '(' .. ARGV[1], 'BYSCORE')
for _, id in ipairs(ids) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
return #ids
