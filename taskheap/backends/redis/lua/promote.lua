-- promote: queue due scheduled and retrying jobs.
-- KEYS[1] queue key prefix; KEYS[2], KEYS[3] the id -> queue index and the known queues (standalone only): the script ingests
-- (a bounded batch of) the inbox first
-- ARGV[1] now ('' = server time), ARGV[2] limit
-- Returns the number promoted, then the entries its ingest set aside for a newer taskheap (take, in lib.lua).
local _, aside = ingest()
local _, now = clock(ARGV[1])
local promoted = promote(now, tonumber(ARGV[2]))
wake(promoted)
return { promoted, aside }
