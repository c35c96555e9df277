-- fail: move the jobs whose lease token is current to retrying (with a due time) or dead.
-- KEYS[1] queue key prefix
-- ARGV[1] now ('' = server time); then 5 fields per failure: id, token, error,
-- traceback ('' = none), retry_at ('' = dead)
-- Returns the accepted ids.
local _, now = clock(ARGV[1])
local accepted, retrying = {}, 0
for i = 2, #ARGV, 5 do
  local id, token, message, traceback, retry_at = unpack(ARGV, i, i + 4)
  if owns(id, token) then
    local job = job_key(id)
    end_lease(id)
    redis.call('HSET', job, 'error', message)
    if traceback == '' then
      redis.call('HDEL', job, 'traceback')
    else
      redis.call('HSET', job, 'traceback', traceback)
    end
    if retry_at == '' then
      move(id, 'running', 'dead')
      redis.call('HSET', job, 'finished_at', now)
    else
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
