-- The isolation of a limited queue's enqueue in a transaction of taskheap's own (limit_lock.sql).
SET TRANSACTION ISOLATION LEVEL READ COMMITTED
