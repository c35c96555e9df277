-- replay: dead jobs run again from scratch (queued, attempts reset).
-- KEYS[1] queue key prefix
-- ARGV: job ids (those no longer dead are skipped)
-- Returns the number replayed.
local replayed = 0
for _, id in ipairs(ARGV) do
  if redis.call('HGET', job_key(id), 'state') == 'dead' then
    move(id, 'dead', 'queued')
    redis.call('HSET', job_key(id), 'attempts', 0)
    redis.call('HDEL', job_key(id), 'run_at', 'finished_at', 'worker')
    replayed = replayed + 1
  end
end
wake(replayed)
return replayed
