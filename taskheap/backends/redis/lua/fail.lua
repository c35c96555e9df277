-- fail: move the jobs whose lease token is current to retrying (due retry_in seconds after now,
-- the clock leases are judged by) or dead, and append each failure to the job's log of failed
-- attempts, keeping the last ARGV[2].
-- KEYS[1] queue key prefix
-- ARGV[1] now ('' = server time); ARGV[2] how many failed attempts a job keeps; then 5 fields
-- per failure: id, token, error, traceback ('' = none), retry_in ('' = dead)
-- A job with a cancel request is refused (its caller cancels it: cancel_claimed.lua).
-- Returns the accepted ids.
local now_n, now = clock(ARGV[1])
local kept = tonumber(ARGV[2])
local accepted, retrying = {}, 0

local function log_failure(id, message, traceback)
  local attempt, worker = unpack(redis.call('HMGET', job_key(id), 'attempts', 'worker'))
  local entry = cjson.encode({
    attempt = tonumber(attempt), error = message, traceback = traceback == '' and cjson.null or traceback,
    worker = worker or cjson.null, finished_at = now,
  })
  local failed = job_key(id) .. ':failed'
  redis.call('RPUSH', failed, entry)
  redis.call('LTRIM', failed, -kept, -1)
end

for i = 3, #ARGV, 5 do
  local id, token, message, traceback, retry_in = unpack(ARGV, i, i + 4)
  local accepts, holds = owns(id, token)
  if accepts and redis.call('HEXISTS', job_key(id), 'cancel_requested_at') == 0 then
    local job = job_key(id)
    log_failure(id, message, traceback)
    end_lease(id)
    redis.call('HSET', job, 'error', message)
    if traceback == '' then
      redis.call('HDEL', job, 'traceback')
    else
      redis.call('HSET', job, 'traceback', traceback)
    end
    if retry_in == '' then
      move(id, 'running', 'dead')
      release_key(id, holds)
      redis.call('HSET', job, 'finished_at', now)
    else
      local retry_at = fmt(now_n + tonumber(retry_in))
      move(id, 'running', 'retrying', retry_at)
      redis.call('HSET', job, 'run_at', retry_at)
      retrying = retrying + 1
    end
    accepted[#accepted + 1] = id
  end
end
if retrying > 0 then
  wake(1) -- idle workers re-read the earliest due time
end
return accepted
