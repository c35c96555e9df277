-- purge: delete the given jobs if they are (still) in the given state.
-- KEYS[1] queue key prefix; KEYS[2], KEYS[3] the id -> queue index and the known queues (standalone only): the script ingests
-- (a bounded batch of) the inbox first
-- ARGV[1] state ('' = any); then job ids
-- Returns the deleted ids, then the entries its ingest set aside for a newer taskheap (take, in lib.lua).
local _, aside = ingest()
local deleted = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local state, priority, holds = unpack(redis.call('HMGET', job_key(id), 'state', 'priority', 'holds'))
  if state and (ARGV[1] == '' or state == ARGV[1]) then
    detach(id, state, priority)
    release_key(id, holds)
    delete_job(id)
    deleted[#deleted + 1] = id
  end
end
return { deleted, aside }
