-- replay: dead jobs run again from scratch (queued, attempts, unknown_since and expiry reset); retrying
-- jobs are queued now (due time cleared, attempts and unknown_since kept). Both keep their rank and their failed attempts.
-- KEYS[1] queue key prefix; KEYS[2], KEYS[3] the id -> queue index and the known queues (standalone only): the script ingests
-- (a bounded batch of) the inbox first
-- ARGV: job ids (those neither dead nor retrying any more are skipped)
-- Returns the number replayed, then the entries its ingest set aside for a newer taskheap (take, in lib.lua).
local _, aside = ingest()
local replayed = 0
for _, id in ipairs(ARGV) do
  local state = redis.call('HGET', job_key(id), 'state')
  if state == 'dead' then
    move(id, 'dead', 'queued')
    redis.call('HSET', job_key(id), 'attempts', 0)
    redis.call('HDEL', job_key(id), 'run_at', 'finished_at', 'worker', 'unknown_since', 'expires_at')
    replayed = replayed + 1
  elseif state == 'retrying' then
    move(id, 'retrying', 'queued')
    redis.call('HDEL', job_key(id), 'run_at')
    replayed = replayed + 1
  end
end
wake(replayed)
return { replayed, aside }
