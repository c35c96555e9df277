-- register: record a worker as alive (the registry lives in the global "{<prefix>}" slot).
-- KEYS[1] workers hash (id -> JSON), KEYS[2] last-seen zset (id -> time), KEYS[3] details hash
-- (id -> JSON of the fields added since the first: keys.py says why they live apart)
-- ARGV[1] worker id, ARGV[2] now ('' = server time), ARGV[3] the worker's JSON, ARGV[4] its details
local _, now = clock(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[2], now, ARGV[1])
return 1
