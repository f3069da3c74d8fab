-- Every webhook delivery is inserted before its ACK, so each index on event_raw costs ACK time.
-- The TTL scan walks event_raw in id (= arrival) order and stops after 1000 rows, and pending rows are
-- found by id range from the processor's cursor: neither needs its own index.
-- depends: 0001.initial

DROP INDEX IF EXISTS event_raw_received;
DROP INDEX IF EXISTS event_raw_pending;
