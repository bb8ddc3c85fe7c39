-- update.sql — one single-row UPDATE of a random key per transaction
-- (catch-up workload "update").  kv_rows is passed with pgbench -D.
\set k random(1, :kv_rows)
UPDATE bench_kv SET v = v + 1 WHERE k = :k;
