-- prune: delete succeeded and cancelled jobs finished before a time (dead letters are kept).
-- KEYS[1] queue key prefix
-- ARGV[1] finished_before, ARGV[2] limit
-- Returns the deleted ids.
local ids = redis.call('ZRANGE', Q .. 'finished', '-inf', '(' .. ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  detach(id, redis.call('HGET', job_key(id), 'state'))
  delete_job(id)
end
return ids
