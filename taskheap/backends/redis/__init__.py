"""Redis backend: one queue shared by workers on many machines; every state change is one Lua script.

Modules. backend.py: RedisBackend (lifecycle, enqueue, the worker's calls, maintenance, the
per-minute counters, admin writes), delegating to the others: client.py (the URL, the client
and its pool, the error guard, scripts sent by SHA in batches), keys.py (the key layout),
wire.py (inbox entries, the claim script's ARGV, lease tokens, records parsed from script
replies), schema.py (the schema version and its migration steps), waits.py (blocking for work)
and listing.py (admin reads). lua/: one script per operation, each with lib.lua prepended.

Layout. Each queue's keys share the hash tag `{<prefix>:<queue>}` (one Redis Cluster slot): an
inbox list of enqueued jobs not yet ingested, a hash per job, a sorted set of queued jobs scored
by rank (equal ranks run in id order, the member order of equal scores), a sorted set of
scheduled and retrying jobs by due time, of running jobs by lease expiry, of succeeded and
cancelled jobs by finish time (pruning), of jobs stored with an expiry by their expiry (the
Expirer's), and one per state in id order (counts are ZCARDs or
ZLEXCOUNTs; listings page through them newest first), and the queue's per-minute outcome
counters. Global keys live under `{<prefix>}`: the id -> queue index (for `get` and `cancel`;
written by ingest, on a Cluster by enqueue), the known queues, the pause flags and the worker
registry (a JSON per worker of the fields every release reads, its details beside it, its last
heartbeat in a sorted set; keys.py names them), the schema version and the migration lock. The
scripts in `lua/` document their KEYS and ARGV (lib.lua lists a queue's keys).

Wire format. An inbox entry is a JSON array in a numbered version, the lowest that expresses the
job (wire.py writes them, `take` in lib.lua reads them), and each version N >= 2 has a list of
its own, so a worker only ever pops the versions it reads: version 1, the 11 fields as strings,
the id first, on `inbox` (every job without meta; what every release wrote, read forever);
version 2, the number 2, those 11 strings, then meta, on `inbox:v2` (a job with meta); version
3, the number 3, those 11 strings, meta ('' for none), then expires_at, on `inbox:v3` (a job
with an expiry); version 4, the number 4, those 11 strings, meta, expires_at ('' for none), then
the group, on `inbox:v4` (a job with a group: an older worker would run it unbounded by its
queue's group_concurrency); each with a wake-up marker pushed onto `inbox` after it. Workers of earlier
releases never read `inbox:v2`, `inbox:v3` or `inbox:v4`:
they neither misread nor lose those entries, a newer worker ingests them. An entry of a version
newer than the code knows found on a list it reads is neither ingested nor dropped: it is moved,
intact, onto the queue's `inbox:v<N>` list, counted in the script's reply (the client logs a
warning naming the list), and the entries behind it ingest as usual. The code that adds wire
version N reads `inbox:v<N>` too. An entry that cannot be read at all (not JSON, not the fields
of its version, a number that is not one: someone else's bytes) is set aside intact onto
`inbox:unreadable` in the same step, so the entries beside it ingest as usual, and the client
turns each into a dead job whose error says what was wrong and whose payload is the entry
(unreadable.lua; any worker's maintenance finishes what a client that died in between left).
Replies are decoded with `surrogateescape`: a byte that is not UTF-8 reads as a surrogate rather
than failing the reply, and the job holding it is refused above the seam. A job's meta is a
field of its hash, returned by claim, expired, get and list_jobs; so is its `expires_at`, which
claim compares with its clock for a first attempt (the reply's past_expiry).

Limits at claim (claim_limits.py): a queue's `limits` hash, which the claim script enforces
(lua/claim.lua), its `starts` zset (the rate's sliding window) and the global `{<prefix>}:limited`
set of the queues that have limits.

Schema. `{<prefix>}:version` holds the schema version, an int (schema.py lists them); `migrate`
brings an older store up step by step under a short lock (safe from many processes at once) and
refuses a store of a newer version. Still version 1: wire formats 2 and 3, a job's
`unknown_since` and `expires_at`, the `expiring` zset, the `cancelled` counter hash and the
registry's details hash, and a job's
`cancel_requested_at` (set by cancel.lua, polled by control.py), `progress` and `progress_at`
(progress.lua) needed no step.

Choices:
- Enqueue is one RPUSH per queue of the jobs, encoded client-side, onto its inbox: the cost of
  the barest enqueue of any Redis queue, whatever the number of jobs. Ingest (lib.lua, at most
  INGEST_BATCH entries a call, popped and written in one script step) builds the job hashes,
  rank and due sets, state sets, id index, known queues and `enqueued` counters. It runs first
  in every script that reads or changes them (claim, promote, cancel, replay, purge); a claim
  that leaves entries behind claims nothing (one may outrank the queued jobs), so the client
  ingests the rest and claims again. Admin reads ingest their queues to the end first, so they
  see every acknowledged enqueue. A call spanning queues is atomic per queue only (one push
  each, in one pipeline). A producer lists its queue among the known ones on its first push
  and every RELIST_EVERY seconds after (in the same round trip), ingest on every batch.
- A queue with a max_length (backpressure) is enqueued into by a script instead (limits.py,
  lua/enqueue.lua): it ingests the queue's lists, counts the queued and waiting sets (and
  inbox:v2 entries no marker announced yet) and pushes the entries only if they fit, in one
  atomic step, so producers never take the queue past its limit; wake-up markers are dropped by
  the ingest, never counted. Its queue's part of a call is atomic; the call's other queues get
  their pushes in the same round trip, and QueueFull names them.
- Jobs with a unique key (unique.py, lua/enqueue_unique.lua): their queue's jobs of the call are
  written into place by one script that takes the keys (`{q}:unique:<key>` = holder id while
  active; `{q}:window:<key>` = "id|held_until" with PX for a window) and reports the duplicates;
  counting the room first for a queue with a max_length. A job's hash then has `unique_key`,
  `unique_for` or `holds` (the key it holds while active), which the scripts of complete, fail to
  dead, cancel, cancel_claimed, expire_due and purge read with the state and release in the same
  step; replay takes it again (SET NX) or leaves the job dead. No wire format: nothing keyed goes
  through an inbox.
- Time: `now=None` means the Redis server's clock (TIME inside the script, and in the waits'
  due-time check): one clock for every worker. `workers()` reads the registry and the clock of its
  node in one script, so a worker's silence is measured by the clock that stamped it. A retry's
  delay arrives relative and the fail script adds it to that clock; enqueue times are the
  producer's (its App clock).
- A lease token is `<n>.<random>@<queue>`: acknowledgements route to their queue's slot with no
  lookup, and a token from an earlier run never matches the job's current one.
- Claim over one queue is one script call. On a queue with nothing queued (an idle worker's
  wake-up), it leases the best fresh jobs as ingest stores them, skipping the queued sets. Over
  several, one round trip ingests the inboxes, one promotes due jobs and peeks at each queue's
  best jobs, then one claim call per queue takes its share of the overall best `limit` (all in
  one pipeline). Under concurrency a share may come back short.
- Idle workers block on the inbox itself: BLMOVE takes its oldest entry into the queue's intake
  list (which ingest reads first), so one enqueued job wakes one worker and nothing is lost if
  that worker dies. Other scripts that make work runnable (release, replay, promote, resume, a
  claim leaving jobs queued, a retry's or a postponement's new due time) push bounded empty
  markers to wake workers the same way. A wait ends no later than the earliest due time. One
  blocking command waits on one list, so a worker serving several queues blocks on each from a
  thread and connection of its own, and the first to wake ends the others' waits (CLIENT
  UNBLOCK); on Redis Cluster it takes turns of CLUSTER_TURN on each instead.
- Retention is enforced by the Pruner over the finished set, not by key TTLs, so counts stay exact
  and dead letters are never evicted.
- Listing merges the id-ordered sets of the queues and states asked for, newest first, within the
  query's id bounds (ZREVRANGEBYLEX): a page reads at most `limit` ids per set (O(log n + limit)),
  then the job hashes. A task filter and a text search read job hashes (a text search only the
  `scan` newest candidates); without them, `count_jobs` is one ZLEXCOUNT per set.
- Per-minute counters live with their queue (its hash tag), so workers of different queues write
  to different Cluster slots; `minutes` reads every known queue's rows in one pipeline. Ingest
  counts the jobs it adds there itself.
- A job's failed attempts are a capped list next to its hash (`job:<id>:failed`), appended by the
  fail script and deleted with the job; listings read them only for the page they return.
- Refused or reset connections are retried with exponential backoff, about a second in all
  (redis-py Retry); a call that timed out is not (client.py); whatever still fails is raised as
  StoreUnreachable (or BackendError) naming the URL. Scripts forgotten by a restarted Redis are
  reloaded.
"""

from .backend import RedisBackend
from .client import parse_url
from .listing import PAGE
from .wire import inbox_entries

__all__ = ["PAGE", "RedisBackend", "inbox_entries", "parse_url"]
