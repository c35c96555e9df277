-- queue_load: a queue's limits at claim, its running jobs, its starts in its rate's window
-- ending at now (those after now - period, as claim counts them) and the oldest of them.
-- KEYS[1] queue key prefix; ARGV[1] now ('' = server time)
-- Returns concurrency, rate, period, group_concurrency ('' for absent ones), running, started,
-- the oldest start's time ('' for none) and now.
local now, now_text = clock(ARGV[1])
local limits = redis.call('HMGET', Q .. 'limits', 'concurrency', 'rate', 'period', 'group_concurrency')
local started, oldest = 0, ''
if limits[3] then
  local after = '(' .. fmt(now - tonumber(limits[3]))
  started = redis.call('ZCOUNT', Q .. 'starts', after, '+inf')
  local first = redis.call('ZRANGE', Q .. 'starts', after, '+inf', 'BYSCORE', 'LIMIT', 0, 1, 'WITHSCORES')
  oldest = first[2] or ''
end
return { limits[1] or '', limits[2] or '', limits[3] or '', limits[4] or '', redis.call('ZCARD', Q .. 'leases'),
  started, oldest, now_text }
