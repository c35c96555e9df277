-- register: record a worker as alive (the registry lives in the global "{<prefix>}" slot).
-- KEYS[1] workers hash (id -> JSON), KEYS[2] last-seen zset (id -> time)
-- ARGV[1] worker id, ARGV[2] now ('' = server time), ARGV[3] the worker's JSON
local _, now = clock(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], now, ARGV[1])
return 1
