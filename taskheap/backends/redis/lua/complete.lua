-- complete: mark succeeded the jobs whose lease token is current, storing their results.
-- KEYS[1] queue key prefix
-- ARGV[1] now ('' = server time); then id, token, result (JSON) triples
-- Returns the accepted ids. The accepted jobs leave their sets together (one command per set).
local _, now = clock(ARGV[1])
local accepted, finished, listed = {}, {}, {}
for i = 2, #ARGV, 3 do
  local id, token, result = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local accepts, holds = owns(id, token)
  if accepts then
    local job = job_key(id)
    release_key(id, holds)
    redis.call('HSET', job, 'state', 'succeeded', 'result', result, 'finished_at', now)
    end_lease(id)
    accepted[#accepted + 1] = id
    append(finished, now, id)
    append(listed, 0, id)
  end
end
if #accepted > 0 then
  bulk('ZREM', Q .. 'state:running', accepted)
  bulk('ZREM', Q .. 'leases', accepted)
  bulk('ZADD', Q .. 'state:succeeded', listed)
  bulk('ZADD', Q .. 'finished', finished)
end
return accepted
