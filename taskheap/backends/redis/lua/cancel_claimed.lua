-- cancel_claimed: cancel the claimed jobs whose lease token is current (their task raised Cancel,
-- or they expired before their first start): the reason is their error, finished now (the clock
-- leases are judged by), kept in `finished` for the retention, the lease dropped, the attempts
-- as claimed, no failed attempt logged.
-- KEYS[1] queue key prefix
-- ARGV[1] now ('' = server time); then 3 fields per job: id, token, reason
-- Returns the accepted ids.
local _, now = clock(ARGV[1])
local accepted = {}
for i = 2, #ARGV, 3 do
  local id, token, reason = unpack(ARGV, i, i + 2)
  local accepts, holds = owns(id, token)
  if accepts then
    release_key(id, holds)
    move(id, 'running', 'cancelled', now)
    end_lease(id)
    redis.call('HSET', job_key(id), 'error', reason, 'finished_at', now)
    redis.call('HDEL', job_key(id), 'traceback', 'run_at')
    accepted[#accepted + 1] = id
  end
end
return accepted
