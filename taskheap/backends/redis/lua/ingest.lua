-- ingest: move inbox entries into the queue's structures (at most INGEST_BATCH); readers call it
-- until nothing is left before they read, so they see every acknowledged enqueue.
-- KEYS[1] queue key prefix; KEYS[2], KEYS[3] the id -> queue index and the known queues (standalone only)
-- Returns the number of entries left (intake and inbox), then the entries set aside for a newer
-- taskheap (take, in lib.lua): a list of version, count.
local left, aside = ingest()
return { left, aside }
