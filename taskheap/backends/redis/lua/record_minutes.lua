-- record_minutes: add counters to one queue's per-minute rows, creating them.
-- KEYS[1] queue key prefix
-- ARGV: 7 fields per row: minute, task, completed, retried, dead, enqueued, cancelled (as COUNTERS)
-- Returns the number of rows given.
local width = 2 + #COUNTERS
for i = 1, #ARGV, width do
  local added = {}
  for n, counter in ipairs(COUNTERS) do
    added[counter] = tonumber(ARGV[i + 1 + n])
  end
  count(ARGV[i], ARGV[i + 1], added)
end
return #ARGV / width
