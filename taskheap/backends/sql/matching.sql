-- A whole JobQuery (job_filter.sql plus the text search), shared by list_jobs.sql,
-- count_jobs.sql, replay.sql and purge.sql. `text` is a case-sensitive substring of the
-- payload, looked for only among the `scan` newest jobs passing the other filters (NULL: all):
-- those are the ids from the scan-th newest one up. Without text, all of it folds away.
{job_filter}
AND (%(text)s::text IS NULL OR (
    strpos(payload, %(text)s::text) > 0
    AND (%(scan)s::bigint IS NULL OR id >= coalesce((
        SELECT id FROM {schema}.jobs
        WHERE {job_filter}
        ORDER BY id DESC
        OFFSET %(scan)s::bigint - 1
        LIMIT 1
    ), ''))
))
