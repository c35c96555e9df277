-- A limited claim's statements are planned once per connection (prepared) and kept: the planner
-- prices claim_limited.sql's generic plan above its custom ones and would plan it anew at every
-- claim (a few ms, more than the claim), while the generic plan is as good (index probes per
-- requested queue). Until the transaction ends.
SET LOCAL plan_cache_mode = force_generic_plan
