-- The JobQuery filter but its text search (see matching.sql); a NULL matches all.
-- Ids sort by creation time, so before/after are both a keyset cursor and a time range.
(%(ids)s::text[] IS NULL OR id = ANY(%(ids)s::text[]))
AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
AND (%(state)s::text IS NULL OR state = %(state)s::text)
AND (%(task)s::text IS NULL OR task = %(task)s::text)
AND (%(before)s::text IS NULL OR id < %(before)s::text)
AND (%(after)s::text IS NULL OR id > %(after)s::text)
