-- replay: dead jobs run again from scratch (queued, attempts, unknown_since and expiry reset); retrying
-- jobs are queued now (due time cleared, attempts and unknown_since kept). Either forgets a cancel request that came
-- too late for the run it was made for. Both keep their rank and their failed attempts.
-- KEYS[1] queue key prefix; KEYS[2], KEYS[3] the id -> queue index and the known queues (standalone only): the script ingests
-- (a bounded batch of) the inbox first
-- ARGV: job ids (those neither dead nor retrying any more are skipped)
-- A dead job with a unique key takes it again, or stays dead when another active job holds it
-- (counted as skipped; key_holder in lib.lua).
-- Returns the number replayed, then the entries its ingest set aside for a newer taskheap (take, in lib.lua),
-- then the number left dead for a held key.
local _, aside = ingest()
local replayed, skipped = 0, 0
for _, id in ipairs(ARGV) do
  local state, holds = unpack(redis.call('HMGET', job_key(id), 'state', 'holds'))
  local holder = state == 'dead' and holds and key_holder(Q .. 'unique:' .. holds)
  if holder and holder ~= id then
    skipped = skipped + 1 -- another active job holds its key: it stays dead
  elseif state == 'dead' then
    if holds then
      redis.call('SET', Q .. 'unique:' .. holds, id)
    end
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
return { replayed, aside, skipped }
