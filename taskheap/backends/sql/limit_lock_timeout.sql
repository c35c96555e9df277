-- How long a limited queue's enqueue in a transaction of taskheap's own waits for the queue's lock
-- (limit_lock.sql), held by another producer's transaction until it ends: less than the call's
-- deadline, so a long wait is told as what it is rather than as a store that does not answer.
-- Parameters: timeout (text, e.g. '5000ms'). For this transaction only.
SELECT set_config('lock_timeout', %(timeout)s, true)
