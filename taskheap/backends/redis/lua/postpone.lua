-- postpone: give claimed jobs whose lease token is current back unrun: scheduled, due delay
-- seconds after now (the clock leases are judged by), the attempt not spent (as release); for an
-- unknown task, unknown_since set to now unless it is set (the first such give-back is kept).
-- KEYS[1] queue key prefix
-- ARGV[1] now ('' = server time); then 4 fields per job: id, token, delay (seconds), unknown
-- task ('1', or '')
-- A job with a cancel request is refused (its caller cancels it: cancel_claimed.lua).
-- Returns the accepted ids.
local now_n, now = clock(ARGV[1])
local accepted = {}
for i = 2, #ARGV, 4 do
  local id, token, delay, unknown_task = unpack(ARGV, i, i + 3)
  if owns(id, token) and redis.call('HEXISTS', job_key(id), 'cancel_requested_at') == 0 then
    local job = job_key(id)
    local run_at = fmt(now_n + tonumber(delay))
    move(id, 'running', 'scheduled', run_at)
    end_lease(id)
    redis.call('HSET', job, 'run_at', run_at)
    unspent(id, redis.call('HINCRBY', job, 'attempts', -1))
    redis.call('HDEL', job, 'worker')
    if unknown_task == '1' then
      redis.call('HSETNX', job, 'unknown_since', now)
    end
    accepted[#accepted + 1] = id
  end
end
if #accepted > 0 then
  wake(1) -- idle workers re-read the earliest due time
end
return accepted
