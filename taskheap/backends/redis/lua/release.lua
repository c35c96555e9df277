-- release: give claimed jobs back untouched (graceful stop): queued again, attempt unspent.
-- KEYS[1] queue key prefix
-- ARGV: id, token pairs
-- Returns the number released.
local released = 0
for i = 1, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  if owns(id, token) then
    move(id, 'running', 'queued')
    end_lease(id)
    unspent(id, redis.call('HINCRBY', job_key(id), 'attempts', -1))
    redis.call('HDEL', job_key(id), 'worker')
    released = released + 1
  end
end
wake(released)
return released
