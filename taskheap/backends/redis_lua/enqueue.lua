-- enqueue: insert jobs of one queue; a job whose id exists is skipped (retried calls are safe).
-- KEYS[1] queue key prefix
-- ARGV[1] queue name; then 10 fields per job: id, task, priority, rank, payload, enqueued_at,
--         run_at ('' = runnable now), retries, backoff (''), timeout ('')
-- Returns the number of jobs added.
local FIELDS = 10
local added, queued = 0, 0
for i = 2, #ARGV, FIELDS do
  local id, task, priority, rank, payload, enqueued_at, run_at, retries, backoff, timeout =
    unpack(ARGV, i, i + FIELDS - 1)
  local job = job_key(id)
  if redis.call('EXISTS', job) == 0 then
    redis.call('HSET', job, 'id', id, 'task', task, 'queue', ARGV[1], 'priority', priority,
      'rank', rank, 'payload', payload, 'attempts', 0, 'retries', retries, 'enqueued_at', enqueued_at)
    if backoff ~= '' then redis.call('HSET', job, 'backoff', backoff) end
    if timeout ~= '' then redis.call('HSET', job, 'timeout', timeout) end
    if run_at == '' then
      attach(id, 'queued', rank, priority)
      queued = queued + 1
    else
      redis.call('HSET', job, 'run_at', run_at)
      attach(id, 'scheduled', run_at, priority)
    end
    added = added + 1
  end
end
if added > 0 then
  wake(math.max(queued, 1))
end
return added
