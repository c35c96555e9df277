-- resume: unpause a queue and wake the idle workers its queued jobs could keep busy (bounded
-- markers, see wake): they blocked on its inbox while it was paused, and jobs queued already
-- push nothing there. In one script, so no worker takes a marker and still finds it paused.
-- KEYS[1] queue key prefix
-- Returns the number of queued jobs.
redis.call('DEL', Q .. 'paused')
local queued = redis.call('ZCARD', Q .. 'queued')
wake(queued)
return queued
