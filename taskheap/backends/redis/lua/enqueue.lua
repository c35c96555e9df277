-- enqueue: into a queue with a max_length (a queue without one gets a bare RPUSH onto its inbox
-- instead). In one atomic step: ingest what the queue's lists hold (take and store, as a claim
-- does first; wake-up markers are dropped, so they are never counted as jobs), count the waiting
-- jobs (the queued and waiting sets: queued, scheduled, retrying; plus inbox:v2 entries that no
-- marker announced yet), and push the call's entries only if they all fit. Idempotent: a retried
-- call is not pushed twice.
-- KEYS[1] queue key prefix; KEYS[2], KEYS[3] the id -> queue index and the known queues (standalone only)
-- ARGV[1] max_length, ARGV[2] n1, ARGV[3] n2, ARGV[4] n3, then the entries: n1 of wire version 1
-- (pushed onto inbox), n2 of wire version 2 (pushed onto inbox:v2), n3 of wire version 3 (pushed
-- onto inbox:v3), the rest of wire version 4 (pushed onto inbox:v4); entries of a later version
-- than 1 are followed by a wake-up marker on inbox.
-- Returns {left, aside, waiting, pushed}: left > 0 when the lists held more than one ingest takes
-- (nothing pushed: the caller ingests the rest and calls again); aside as take's (lib.lua);
-- waiting, the jobs waiting before the push; pushed 1, or 0 when waiting + the entries would be
-- more than max_length (nothing pushed).
local fresh, left, aside = take()
store(fresh)
local runnable = false -- ingested jobs that a worker may claim now
for _, job in ipairs(fresh) do
  runnable = runnable or job[8] == ''
end
if left > 0 then
  return { left, aside, 0, 0 }
end
local waiting = waiting_jobs()
local first = 5 -- the first entry's index in ARGV
local v1, v2, v3 = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local given = #ARGV - first + 1 -- entries in the call
-- A call retried after its reply was lost (redis-py retries on a connection error) finds its first
-- job stored by the ingest above: its push went through whole, so it is neither pushed again nor
-- refused for its own jobs.
if given > 0 and redis.call('EXISTS', job_key(ARGV[first]:match('^%[[234]?,?"([^"]*)"') or '')) == 1 then
  return { 0, aside, waiting - given, 1 }
end
if waiting + given > tonumber(ARGV[1]) then
  if runnable then
    wake(1) -- their entries, popped here, may have been what an idle worker was about to block on
  end
  return { 0, aside, waiting, 0 }
end
local function entries(from, to)
  local list = {}
  for i = from, to do
    list[#list + 1] = ARGV[i]
  end
  return list
end
bulk('RPUSH', Q .. 'inbox', entries(first, first + v1 - 1))
bulk('RPUSH', Q .. 'inbox:v2', entries(first + v1, first + v1 + v2 - 1))
bulk('RPUSH', Q .. 'inbox:v3', entries(first + v1 + v2, first + v1 + v2 + v3 - 1))
bulk('RPUSH', Q .. 'inbox:v4', entries(first + v1 + v2 + v3, #ARGV))
if given > v1 then
  redis.call('RPUSH', Q .. 'inbox', '')
end
return { 0, aside, waiting, 1 }
