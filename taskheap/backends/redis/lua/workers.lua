-- workers: the registry, read with the clock of the node that holds it (one step).
-- KEYS[1] workers hash, KEYS[2] last-seen zset, KEYS[3] details hash
-- Returns the server's time, then the workers hash, the details hash and the last-seen zset
-- with its scores, each as a flat list.
local _, now = clock('')
return {
  now, redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[3]),
  redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES'),
}
