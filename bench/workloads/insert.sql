-- insert.sql — one single-row INSERT per transaction (catch-up workload
-- "insert").  bench_ins.id is a bigserial: the origin's sequence numbers the
-- rows, the subscriber receives them as values.
\set a random(1, 1000000)
INSERT INTO bench_ins (a, b) VALUES (:a, 'concord benchmark row');
