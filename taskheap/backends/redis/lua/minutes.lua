-- minutes (read-only): one queue's per-minute counter rows from a minute on (ALL_TIME included).
-- KEYS[1] queue key prefix
-- ARGV[1] since (a minute)
-- Returns 7 fields per row, in minute order: minute, task, then COUNTERS (completed, retried,
-- dead, enqueued, cancelled).
local out = {}
for _, row in ipairs(minute_rows(ARGV[1], '+inf')) do
  local minute, task = string.match(row, '^(%d+):(.*)$')
  append(out, minute, task)
  for _, counter in ipairs(COUNTERS) do
    out[#out + 1] = redis.call('HGET', Q .. 'minutes:' .. counter, row) or '0'
  end
end
return out
