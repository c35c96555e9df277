-- queue_load: a queue's limits at claim, its running jobs and its starts in its rate's window
-- ending at now (those after now - period, as claim counts them).
-- KEYS[1] queue key prefix; ARGV[1] now ('' = server time)
-- Returns concurrency, rate, period, group_concurrency ('' for absent ones), running, started.
local now = clock(ARGV[1])
local limits = redis.call('HMGET', Q .. 'limits', 'concurrency', 'rate', 'period', 'group_concurrency')
local started = 0
if limits[3] then
  started = redis.call('ZCOUNT', Q .. 'starts', '(' .. fmt(now - tonumber(limits[3])), '+inf')
end
return { limits[1] or '', limits[2] or '', limits[3] or '', limits[4] or '', redis.call('ZCARD', Q .. 'leases'),
  started }
