-- progress: store running jobs' progress (`progress`, `progress_at` in the job hash), only with
-- their current token.
-- KEYS[1] queue key prefix
-- ARGV[1] now ('' = server time); then 3 fields per job: id, token, progress (JSON text)
-- Returns the accepted ids.
local _, now = clock(ARGV[1])
local accepted = {}
for i = 2, #ARGV, 3 do
  local id, token, progress = unpack(ARGV, i, i + 2)
  if owns(id, token) then
    redis.call('HSET', job_key(id), 'progress', progress, 'progress_at', now)
    accepted[#accepted + 1] = id
  end
end
return accepted
