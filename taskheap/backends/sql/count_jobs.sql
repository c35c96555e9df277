-- How many jobs match a JobQuery (matching.sql); its limit is ignored. Run unprepared.
-- Parameters: as list_jobs.sql.
SELECT count(*) FROM {schema}.jobs WHERE {matching}
