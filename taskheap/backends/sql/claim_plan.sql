-- How a limited claim's statements are planned, until its transaction ends: once per connection
-- (prepared) and kept, since the planner prices claim_limited.sql's generic plan above its
-- custom ones and would plan it anew at every claim (a few ms, more than the claim), while the
-- generic plan is as good (index probes per requested queue); and without bitmap scans, which
-- re-read the index entries of deleted rows (the window's trimmed starts, the running jobs'
-- partial index) at every claim until a vacuum, where an index scan marks them dead once.
SELECT set_config('plan_cache_mode', 'force_generic_plan', true), set_config('enable_bitmapscan', 'off', true)
