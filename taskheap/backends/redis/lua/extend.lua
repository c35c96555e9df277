-- extend: renew the leases still owned (heartbeat).
-- KEYS[1] queue key prefix
-- ARGV[1] now ('' = server time), ARGV[2] lease seconds; then id, token pairs
-- Returns the ids whose token is current.
local now = clock(ARGV[1])
local lease_until = fmt(now + tonumber(ARGV[2]))
local owned = {}
for i = 3, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  if owns(id, token) then
    redis.call('ZADD', Q .. 'leases', lease_until, id)
    redis.call('HSET', job_key(id), 'lease_until', lease_until)
    owned[#owned + 1] = id
  end
end
return owned
