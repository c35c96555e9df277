-- complete: mark succeeded the jobs whose lease token is current, storing their results.
-- KEYS[1] queue key prefix
-- ARGV[1] now ('' = server time); then id, token, result (JSON) triples
-- Returns the accepted ids.
local _, now = clock(ARGV[1])
local accepted = {}
for i = 2, #ARGV, 3 do
  local id, token, result = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if owns(id, token) then
    move(id, 'running', 'succeeded', now)
    end_lease(id)
    redis.call('HSET', job_key(id), 'result', result, 'finished_at', now)
    accepted[#accepted + 1] = id
  end
end
return accepted
