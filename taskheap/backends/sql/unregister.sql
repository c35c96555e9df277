-- Remove one worker from the registry. Parameters: worker.
DELETE FROM {schema}.workers WHERE id = %(worker)s
