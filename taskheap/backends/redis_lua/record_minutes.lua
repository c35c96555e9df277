-- record_minutes: add outcome counters to one queue's per-minute rows, creating them.
-- KEYS[1] queue key prefix
-- ARGV: 5 fields per row: minute, task, completed, retried, dead
-- Returns the number of rows given.
for i = 1, #ARGV, 5 do
  local minute, task = ARGV[i], ARGV[i + 1]
  local row = minute .. ':' .. task
  redis.call('ZADD', Q .. 'minutes', minute, row)
  for n, counter in ipairs(COUNTERS) do
    local count = tonumber(ARGV[i + 1 + n])
    if count ~= 0 then
      redis.call('HINCRBY', Q .. 'minutes:' .. counter, row, count)
    end
  end
end
return #ARGV / 5
