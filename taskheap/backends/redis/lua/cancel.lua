-- cancel: cancel a job that has not started (queued, scheduled or retrying), or store the
-- request (`cancel_requested_at`, kept if set) for a running one, which its worker polls for.
-- KEYS[1] queue key prefix; KEYS[2], KEYS[3] the id -> queue index and the known queues (standalone only): the script ingests
-- (a bounded batch of) the inbox first
-- ARGV[1] job id, ARGV[2] now ('' = server time)
-- Returns 1 if cancelled or requested, else 0; then the entries its ingest set aside for a newer taskheap (take, in lib.lua).
local _, aside = ingest()
local _, now = clock(ARGV[2])
local id = ARGV[1]
local state, holds = unpack(redis.call('HMGET', job_key(id), 'state', 'holds'))
if state == 'running' then
  redis.call('HSETNX', job_key(id), 'cancel_requested_at', now)
  return { 1, aside }
end
if state ~= 'queued' and state ~= 'scheduled' and state ~= 'retrying' then
  return { 0, aside }
end
move(id, state, 'cancelled', now)
release_key(id, holds)
redis.call('HSET', job_key(id), 'finished_at', now)
redis.call('HDEL', job_key(id), 'run_at')
return { 1, aside }
