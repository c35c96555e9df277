-- promote: queue due scheduled and retrying jobs.
-- KEYS[1] queue key prefix; KEYS[2], KEYS[3] the id -> queue index and the known queues (standalone only): the script ingests
-- (a bounded batch of) the inbox first
-- ARGV[1] now ('' = server time), ARGV[2] limit
-- Returns the number promoted, then the entries its ingest set aside (take, in lib.lua), the count
-- of unreadable ones being all that wait in inbox:unreadable: with those a client set aside but did
-- not get to turn into dead jobs (it died in between), so any worker's maintenance finishes it.
local _, aside = ingest()
local _, now = clock(ARGV[1])
local promoted = promote(now, tonumber(ARGV[2]))
wake(promoted)
local report = {}
for i = 1, #aside, 2 do
  if aside[i] ~= 'unreadable' then
    append(report, aside[i], aside[i + 1])
  end
end
local unreadable = redis.call('LLEN', Q .. 'inbox:unreadable')
if unreadable > 0 then
  append(report, 'unreadable', unreadable)
end
return { promoted, report }
