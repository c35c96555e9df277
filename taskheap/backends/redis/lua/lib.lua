-- Helpers prepended to every script (the scripts below the marker use them).
--
-- KEYS[1] of a queue script is the queue's key prefix "{<prefix>:<queue>}:"; every key the
-- script touches is built from it, so all of them share the queue's hash tag (one Cluster slot).
-- KEYS[2] and KEYS[3] of a script that ingests (below) are the global id -> queue index and the
-- known-queues set, given on a standalone Redis only (on a Cluster they live on another slot:
-- enqueue writes them instead).
-- Keys under a queue prefix:
--   inbox         list: enqueued jobs not yet ingested, in push order, each a JSON array in
--                 wire format version 1: 11 strings: id, task, queue, priority, rank, payload,
--                 enqueued_at, run_at ('' = runnable now), retries, backoff (''), timeout ('');
--                 or '', a wake-up marker. Producers RPUSH to it directly; idle workers block on
--                 it (BLMOVE). A producer writes the lowest version that expresses a job
--   inbox:v2      list: entries of wire version 2, the number 2, version 1's 11 strings, then
--                 meta: a job with meta. Kept off `inbox`, where workers before version 2 would
--                 misread them; the producer pushes a marker onto `inbox` after them, which
--                 wakes an idle worker and tells ingest to read this list (take)
--   inbox:v3      list: entries of wire version 3, the number 3, version 1's 11 strings, meta
--                 ('' = none), then expires_at: a job with an expiry. Kept off the lists workers
--                 before version 3 read, and announced by a marker on `inbox` as inbox:v2 is
--   inbox:v4      list: entries of wire version 4, the number 4, version 1's 11 strings, meta
--                 ('' = none), expires_at ('' = none), then group: a job with a group (a queue's
--                 group_concurrency bounds its running jobs per group). Kept off the lists
--                 workers before version 4 read, and announced by a marker on `inbox`
--   intake        list: the oldest inbox entries, moved there one by one by the BLMOVE that
--                 woke an idle worker; ingested before the inbox
--   inbox:v<N>    list, N > WIRE_VERSION: where a producer of wire version N pushes entries
--                 of that version (never read by this code), and where ingest sets aside intact
--                 an entry of such a version found on the lists it reads (every script that
--                 ingests counts those in its reply). The code that raises WIRE_VERSION to N
--                 reads `inbox:v<N>` in take as it reads inbox:v2
--   inbox:unreadable list: entries that could not be read (not JSON, or not the fields of their
--                 version), set aside intact by ingest (take) so their neighbours ingest; the
--                 client turns each into a dead job with the reason (unreadable.lua)
--   job:<id>      hash: the job record (absent fields are None; `meta` from wire version 2,
--                 `expires_at` from wire version 3, `group` from wire version 4, `unknown_since`
--                 from postpone; `unique_key`, `unique_for` and `holds` (the key held while
--                 active) from enqueue_unique.lua)
--   unique:<key>, window:<key> strings: unique keys held (enqueue_unique.lua)
--   job:<id>:failed list: its last failed attempts, oldest first, each a JSON object
--                 (attempt, error, traceback, worker, finished_at as a decimal string)
--   queued        zset: runnable jobs, score = rank (ties run in id order)
--   waiting       zset: scheduled and retrying jobs, score = due time
--   leases        zset: running jobs, score = lease expiry
--   finished      zset: succeeded and cancelled jobs, score = finish time (pruned by retention)
--   expiring      zset: unstarted jobs with an expiry, score = expires_at: added by ingest, taken
--                 off by the claim of a first attempt, put back by a give-back that leaves no
--                 attempt spent (release, postpone: unspent); a member whose job was cancelled or
--                 deleted meanwhile stays until its time, when expire_due drops it
--   state:<state> zset: every job in that state, score 0 (lexical id order: listing, counts)
--   priorities    hash: priority -> number of queued jobs
--   paused        string: present while the queue is paused
--   limits        hash: the queue's limits at claim (concurrency, rate, period,
--                 group_concurrency; absent fields: no such limit; no hash: unlimited), which
--                 claim.lua enforces
--   starts        zset: a queue with a rate's starts, member the lease token, score the claim's
--                 time (the sliding window; claim.lua drops those out of it)
--   minutes       zset: per-minute counter rows "<minute>:<task>", score = minute (ALL_TIME too)
--   minutes:<counter> hash: row -> count, one hash per counter in COUNTERS
local Q = KEYS[1]
local WAKE_CAP = 128
local WIRE_VERSION = 4 -- the newest inbox entry version ingest reads (above)
local INGEST_BATCH = 5000 -- inbox entries one script call ingests at most (about 50 ms of work)
local ALL_TIME = '1099511627776' -- base.ALL_TIME: the all-time row of the per-minute counters
local COUNTERS = { 'completed', 'retried', 'dead', 'enqueued', 'cancelled' }
local ORDER = {
  queued = 'queued', scheduled = 'waiting', retrying = 'waiting',
  running = 'leases', succeeded = 'finished', cancelled = 'finished',
}

local function fmt(n)
  return string.format('%.17g', n)
end

-- The given time (a decimal string), or the server's clock when it is empty.
local function clock(given)
  if given ~= '' then
    return tonumber(given), given
  end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  return now, fmt(now)
end

local function append(list, a, b)
  list[#list + 1] = a
  list[#list + 1] = b
end

-- One command over a long argument list (members, or score/member and field/value pairs) in
-- chunks: unpack is bounded, and an even chunk size keeps pairs whole.
local function bulk(command, key, args)
  for i = 1, #args, 4000 do
    redis.call(command, key, unpack(args, i, math.min(i + 3999, #args)))
  end
end

local function job_key(id)
  return Q .. 'job:' .. id
end

-- Delete a job's record and its log of failed attempts.
local function delete_job(id)
  redis.call('DEL', job_key(id), job_key(id) .. ':failed')
end

-- Add to the per-minute row (minute, task), creating it: added is counter name -> number.
-- A row's counter fields exist only while the row is listed (forget_minutes drops both), so a
-- counter that held a value before proves the row listed: the ZADD is skipped.
local function count(minute, task, added)
  local row = minute .. ':' .. task
  local listed = false
  for counter, n in pairs(added) do
    if n ~= 0 and redis.call('HINCRBY', Q .. 'minutes:' .. counter, row, n) ~= n then
      listed = true
    end
  end
  if not listed then
    redis.call('ZADD', Q .. 'minutes', minute, row)
  end
end

-- Queued jobs left, counted per priority: priority -> how many.
local function forget_depths(depths)
  for priority, n in pairs(depths) do
    if redis.call('HINCRBY', Q .. 'priorities', priority, -n) <= 0 then
      redis.call('HDEL', Q .. 'priorities', priority)
    end
  end
end

local function detach(id, state, priority)
  redis.call('ZREM', Q .. 'state:' .. state, id)
  local order = ORDER[state]
  if order then
    redis.call('ZREM', Q .. order, id)
  end
  if state == 'queued' then
    forget_depths({ [priority] = 1 })
  end
end

local function attach(id, state, score, priority)
  redis.call('HSET', job_key(id), 'state', state)
  redis.call('ZADD', Q .. 'state:' .. state, 0, id)
  local order = ORDER[state]
  if order then
    redis.call('ZADD', Q .. order, score, id)
  end
  if state == 'queued' then
    redis.call('HINCRBY', Q .. 'priorities', priority, 1)
  end
end

-- Move a job between states; entering 'queued' it is ranked by its stored rank.
local function move(id, from, to, score)
  local rank, priority = unpack(redis.call('HMGET', job_key(id), 'rank', 'priority'))
  detach(id, from, priority)
  attach(id, to, to == 'queued' and rank or score, priority)
end

-- Wake up to n idle workers: they block on the inbox, so push n markers there (bounded: a marker
-- is a hint, not a job; entries already waiting wake workers too).
local function wake(n)
  local room = WAKE_CAP - redis.call('LLEN', Q .. 'inbox')
  local markers = {}
  for i = 1, math.min(n, room) do
    markers[i] = ''
  end
  if #markers > 0 then
    redis.call('RPUSH', Q .. 'inbox', unpack(markers))
  end
end

-- Queue due scheduled and retrying jobs (at most limit); returns how many.
local function promote(now, limit)
  local due = redis.call('ZRANGE', Q .. 'waiting', '-inf', now, 'BYSCORE', 'LIMIT', 0, limit)
  for _, id in ipairs(due) do
    move(id, redis.call('HGET', job_key(id), 'state'), 'queued')
    redis.call('HDEL', job_key(id), 'run_at')
  end
  return #due
end

-- Clear a finished or returned run's lease.
local function end_lease(id)
  redis.call('HDEL', job_key(id), 'token', 'lease_until')
end

-- A claimed job given back with `attempts` (its count now) spent: with none spent, it waits
-- unstarted again, so its expiry, if any, applies again (claim took it off `expiring`).
local function unspent(id, attempts)
  if attempts == 0 then
    local expires_at = redis.call('HGET', job_key(id), 'expires_at')
    if expires_at then
      redis.call('ZADD', Q .. 'expiring', expires_at, id)
    end
  end
end

-- True if the job is running under this lease token; then the unique key it holds while active,
-- if any (read in the same HMGET: a job without one pays nothing to be told so).
local function owns(id, token)
  local state, current, holds = unpack(redis.call('HMGET', job_key(id), 'state', 'token', 'holds'))
  return state == 'running' and current == token, holds
end

local UNIQUE_STATES = { queued = true, scheduled = true, running = true, retrying = true } -- job.UNIQUE_STATES

-- The job holding the while-active unique key `slot` ("<Q>unique:<key>"), or nil. A holder no
-- longer in UNIQUE_STATES (finished by a worker of an earlier release, whose scripts release no
-- key) holds nothing.
local function key_holder(slot)
  local holder = redis.call('GET', slot)
  if holder and UNIQUE_STATES[redis.call('HGET', job_key(holder), 'state') or ''] then
    return holder
  end
  return nil
end

-- A job leaving the unique states gives back the key it `holds` (enqueue_unique.lua), if it
-- still holds it (a dead job replayed while another held its key holds none).
local function release_key(id, holds)
  if holds then
    local slot = Q .. 'unique:' .. holds
    if redis.call('GET', slot) == id then
      redis.call('DEL', slot)
    end
  end
end

-- The per-minute counter rows scored from min to max (ZRANGE BYSCORE bounds).
-- The queue's waiting jobs for its max_length: queued and waiting (scheduled, retrying), plus
-- the inbox entries of wire versions 2 and later, which no ingest of this version drops.
local function waiting_jobs()
  return redis.call('ZCARD', Q .. 'queued') + redis.call('ZCARD', Q .. 'waiting')
    + redis.call('LLEN', Q .. 'inbox:v2') + redis.call('LLEN', Q .. 'inbox:v3') + redis.call('LLEN', Q .. 'inbox:v4')
end

local function minute_rows(min, max)
  return redis.call('ZRANGE', Q .. 'minutes', min, max, 'BYSCORE')
end

-- Count jobs added in the `enqueued` counters of their minute and of ALL_TIME:
-- added is minute -> task -> jobs.
local function count_enqueued(added)
  local all_time = {} -- task -> jobs
  for minute, tasks in pairs(added) do
    for task, n in pairs(tasks) do
      count(minute, task, { enqueued = n })
      all_time[task] = (all_time[task] or 0) + n
    end
  end
  for task, n in pairs(all_time) do
    count(ALL_TIME, task, { enqueued = n })
  end
end

-- An inbox entry's fields, checked: returns the job (version 1's 11 strings, then meta for
-- version 2), or nil and what is wrong, or the entry's version when it is newer than this code
-- reads (the caller keeps it for a newer worker). Never raises: one bad entry must not fail the
-- script that ingests it beside others (Redis keeps a failed script's earlier writes).
-- Numbers as Python reads them back (int(), float()) and Redis takes them (a ZADD score): plain
-- decimals only (Lua's tonumber also takes ' 5', 'nan', '0x10', '1e3' for an int).
local function is_int(text)
  return string.find(text, '^%-?%d+$') ~= nil
end

local function is_float(text)
  return (string.find(text, '^%-?%d+%.?%d*$') or string.find(text, '^%-?%d+%.?%d*[eE][%-+]?%d+$')) ~= nil
end

local function finite(n)
  return type(n) == 'number' and n == n and n > -math.huge and n < math.huge
end

local NAMES = { 'id', 'task', 'queue', 'priority', 'rank', 'payload', 'enqueued_at', 'run_at', 'retries',
  'backoff', 'timeout', 'meta', 'expires_at', 'group' }

-- What is wrong with a decoded entry of `fields` fields (the slow path of readable: it names it).
-- Whether `queue` names the queue whose keys Q prefixes ("{<prefix>:<queue>}:"): an entry on one
-- queue's inbox naming another would be stored under this queue but indexed under the other. The
-- name, once proved, is remembered, so the next entries cost one comparison of interned strings.
local inbox_queue = nil
local function of_this_queue(queue)
  if queue == inbox_queue then
    return true
  end
  if string.sub(Q, -(#queue + 3)) == ':' .. queue .. '}:' then
    inbox_queue = queue
    return true
  end
  return false
end

local function wrong(job, fields)
  if #job ~= fields then
    return 'expected ' .. fields .. ' fields, got ' .. #job
  end
  for i = 1, fields do
    if type(job[i]) ~= 'string' then
      return 'field ' .. i .. ' is not a string'
    end
  end
  if job[1] == '' then
    return 'empty id'
  end
  for _, i in ipairs({ 4, 9 }) do
    if not is_int(job[i]) then
      return NAMES[i] .. ' is not an integer'
    end
  end
  for _, i in ipairs({ 5, 7 }) do
    if not is_float(job[i]) then
      return NAMES[i] .. ' is not a number'
    end
  end
  for _, i in ipairs({ 8, 11 }) do
    if job[i] ~= '' and not is_float(job[i]) then
      return NAMES[i] .. ' is not a number'
    end
  end
  if fields == 13 and not is_float(job[13]) then
    return NAMES[13] .. ' is not a number'
  end
  if fields == 14 and job[13] ~= '' and not is_float(job[13]) then
    return NAMES[13] .. ' is not a number'
  end
  if fields == 14 and job[14] == '' then
    return 'empty group'
  end
  if not of_this_queue(job[3]) then
    return 'queue ' .. job[3] .. ' is not the queue of the inbox it was pushed onto'
  end
  return 'backoff is not a policy'
end

local function is_backoff(text) -- Backoff.to_json: [base, factor, max, jitter], as Backoff checks it
  local parsed, b = pcall(cjson.decode, text)
  return parsed and type(b) == 'table' and #b == 4 and finite(b[1]) and b[1] >= 0 and finite(b[2])
    and b[2] >= 1 and finite(b[3]) and b[3] >= 0 and type(b[4]) == 'boolean'
end

local function readable(entry)
  local ok, job = pcall(cjson.decode, entry)
  if not ok then
    return nil, 'not JSON'
  end
  if type(job) ~= 'table' then
    return nil, 'not a JSON array'
  end
  local fields = 11
  local version = job[1]
  if type(version) == 'number' then
    if version > WIRE_VERSION and version == math.floor(version) and version < 1e9 then
      return nil, nil, fmt(version)
    end
    if version ~= 2 and version ~= 3 and version ~= 4 then
      return nil, 'unknown wire format version ' .. fmt(version)
    end
    table.remove(job, 1) -- version 2 is version 1's fields, then meta; 3 then expires_at; 4 then group
    fields = version + 10
  end
  if #job ~= fields then
    return nil, wrong(job, fields) -- before any unpack: a long array would overflow Lua's stack
  end
  local id, task, queue, priority, rank, payload, enqueued_at, run_at, retries, backoff, timeout, meta,
    expires_at, group = unpack(job, 1, fields)
  if type(id) == 'string' and id ~= '' and type(task) == 'string' and type(queue) == 'string'
    and type(payload) == 'string' and type(backoff) == 'string' and (fields == 11 or type(meta) == 'string')
    and (fields ~= 13 or (type(expires_at) == 'string' and is_float(expires_at)))
    and (fields ~= 14 or (type(expires_at) == 'string' and (expires_at == '' or is_float(expires_at))
      and type(group) == 'string' and group ~= ''))
    and type(priority) == 'string' and is_int(priority) and type(rank) == 'string' and is_float(rank)
    and type(enqueued_at) == 'string' and is_float(enqueued_at) and type(retries) == 'string' and is_int(retries)
    and type(run_at) == 'string' and (run_at == '' or is_float(run_at))
    and type(timeout) == 'string' and (timeout == '' or is_float(timeout))
    and (backoff == '' or is_backoff(backoff)) and of_this_queue(queue) then
    return job
  end
  return nil, wrong(job, fields)
end

-- Take up to INGEST_BATCH entries, the intake's, then the inbox's (the intake holds the inbox's
-- oldest), then, when a wake-up marker came with them, those of inbox:v2 and inbox:v3 (wire
-- versions 2 and 3, which no worker before them reads; its producer pushes a marker onto the inbox after its entries, so
-- the list is only read when it may hold some: no command for it on the common path), as fresh
-- jobs in push order: markers are dropped, and so is a job whose id exists (a retried enqueue is
-- safe). A marker that led to no complete read of inbox:v2 (the batch filled first) is pushed
-- back, so the next ingest reads them. The caller stores the jobs in the same script (store,
-- below): taken and stored in one atomic step, an entry is never lost nor ingested twice. An
-- entry of a wire version newer than WIRE_VERSION is neither ingested nor dropped: it is
-- appended, intact, to the queue's `inbox:v<N>` list, and one that cannot be read (readable,
-- above) to `inbox:unreadable`; the entries behind them are taken as usual. Returns the jobs
-- (each version 1's array of 11 strings, then meta and expires_at when the entry had them), the number of
-- entries left, and the entries set aside as a flat list of version (or 'unreadable'), count
-- (for the caller's reply).
local function take()
  local entries, full, marked = {}, false, false -- full: a pop took all it asked for
  local function pop(source)
    local wanted = INGEST_BATCH - #entries
    local popped = redis.call('LPOP', Q .. source, wanted) or {}
    for _, entry in ipairs(popped) do
      entries[#entries + 1] = entry
      marked = marked or entry == ''
    end
    full = #popped == wanted
  end
  pop('intake')
  if not full then
    pop('inbox')
  end
  if marked then
    for _, list in ipairs({ 'inbox:v2', 'inbox:v3', 'inbox:v4' }) do
      if not full then
        pop(list)
      end
    end
    if full then
      redis.call('RPUSH', Q .. 'inbox', '') -- inbox:v2 or v3 may hold more: the next ingest reads them
    end
  end
  local jobs, taken, aside = {}, {}, {} -- aside: version (or 'unreadable') -> its entries
  for _, entry in ipairs(entries) do
    if entry ~= '' then
      local job, _, newer = readable(entry)
      if job then
        local id = job[1]
        if not taken[id] and redis.call('EXISTS', job_key(id)) == 0 then
          jobs[#jobs + 1], taken[id] = job, true
        end
      else
        local list = newer or 'unreadable'
        local kept = aside[list] or {}
        kept[#kept + 1], aside[list] = entry, kept
      end
    end
  end
  local report = {}
  for list, kept in pairs(aside) do
    bulk('RPUSH', Q .. (list == 'unreadable' and 'inbox:unreadable' or 'inbox:v' .. list), kept)
    append(report, list, #kept)
  end
  if not full then
    return jobs, 0, report
  end
  return jobs, redis.call('LLEN', Q .. 'intake') + redis.call('LLEN', Q .. 'inbox'), report
end

-- Write taken jobs into the queue's structures: queued, or scheduled until their run_at. `runs`,
-- when given, maps the id of a job leased at once by the caller to the fields of its run: that
-- job is recorded as running and left out of the queued sets (the caller lists it as running).
local function store(jobs, runs)
  local ranked, due, listed, located, depths = {}, {}, { queued = {}, scheduled = {} }, {}, {}
  local expiring = {}
  local added, last_at, minute = {}, nil, nil -- added: minute -> task -> jobs
  local queue_name = nil
  for _, job in ipairs(jobs) do
    local id, task, queue, priority, rank, payload, enqueued_at, run_at, retries, backoff, timeout, meta,
      expires_at, group = unpack(job)
    if expires_at == '' then
      expires_at = nil -- wire version 4 without an expiry
    end
    local run = runs and runs[id]
    local state = run and 'running' or run_at == '' and 'queued' or 'scheduled'
    local fields = { 'id', id, 'task', task, 'queue', queue, 'priority', priority, 'rank', rank,
      'payload', payload, 'retries', retries, 'enqueued_at', enqueued_at, 'state', state }
    if backoff ~= '' then append(fields, 'backoff', backoff) end
    if timeout ~= '' then append(fields, 'timeout', timeout) end
    if meta and meta ~= '' then append(fields, 'meta', meta) end
    if group and group ~= '' then append(fields, 'group', group) end
    if expires_at then
      append(fields, 'expires_at', expires_at)
      if not run then
        append(expiring, expires_at, id)
      end
    end
    if run then
      for _, value in ipairs(run) do
        fields[#fields + 1] = value
      end
    else
      append(fields, 'attempts', 0)
      append(listed[state], 0, id)
      if state == 'queued' then
        append(ranked, rank, id)
        depths[priority] = (depths[priority] or 0) + 1
      else
        append(fields, 'run_at', run_at)
        append(due, run_at, id)
      end
    end
    redis.call('HSET', job_key(id), unpack(fields))
    append(located, id, queue)
    queue_name = queue
    if enqueued_at ~= last_at then -- one call's jobs share their enqueue time
      last_at, minute = enqueued_at, string.format('%d', math.floor(tonumber(enqueued_at) / 60) * 60)
      added[minute] = added[minute] or {}
    end
    added[minute][task] = (added[minute][task] or 0) + 1
  end
  count_enqueued(added)
  for _, state in ipairs({ 'queued', 'scheduled' }) do
    bulk('ZADD', Q .. 'state:' .. state, listed[state])
  end
  bulk('ZADD', Q .. 'queued', ranked)
  bulk('ZADD', Q .. 'waiting', due)
  bulk('ZADD', Q .. 'expiring', expiring)
  for priority, n in pairs(depths) do
    redis.call('HINCRBY', Q .. 'priorities', priority, n)
  end
  if KEYS[2] then
    bulk('HSET', KEYS[2], located)
    if queue_name then
      redis.call('SADD', KEYS[3], queue_name)
    end
  end
end

-- Move up to INGEST_BATCH entries into the queue's structures; returns the entries left and
-- those set aside (as take does).
local function ingest()
  local jobs, left, aside = take()
  store(jobs)
  return left, aside
end

-- ---- script ----
