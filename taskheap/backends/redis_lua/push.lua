-- push (enqueue): append jobs, encoded by the client, to the queue's inbox in one RPUSH (ingest
-- moves them into the job hashes and sets later), add a wake-up token per job (bounded) and list
-- the queue among the known queues.
-- KEYS[1] queue key prefix; KEYS[2] the known-queues set, standalone only (on a Cluster it lives
--         on another slot: the caller adds the queue alongside)
-- ARGV[1] queue name; then the inbox entries, in enqueue order (lib.lua: `inbox`)
-- Returns the inbox length.
local length = 0
for i = 2, #ARGV, 4000 do -- unpack is bounded
  length = redis.call('RPUSH', Q .. 'inbox', unpack(ARGV, i, math.min(i + 3999, #ARGV)))
end
wake(#ARGV - 1)
if KEYS[2] then
  redis.call('SADD', KEYS[2], ARGV[1])
end
return length
