-- forget_minutes: delete one queue's per-minute counter rows older than a minute.
-- KEYS[1] queue key prefix
-- ARGV[1] before (a minute; ALL_TIME rows are kept by any real minute)
-- Returns the number of rows deleted.
local rows = minute_rows('-inf', '(' .. ARGV[1])
for _, counter in ipairs(COUNTERS) do
  bulk('HDEL', Q .. 'minutes:' .. counter, rows)
end
redis.call('ZREMRANGEBYSCORE', Q .. 'minutes', '-inf', '(' .. ARGV[1])
return #rows
