-- End the transaction of begin_read_committed.sql.
COMMIT
