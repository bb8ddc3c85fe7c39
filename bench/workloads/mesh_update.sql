-- mesh_update.sql — the mesh workload at one node: one single-row UPDATE of
-- a random key of that node's own table per transaction.  The harness writes
-- one copy per node with @TABLE@ replaced by mesh<n>_kv_<i> (pgbench cannot
-- take a table name as a variable in prepared mode).  mesh_rows is passed
-- with pgbench -D.
\set k random(1, :mesh_rows)
UPDATE @TABLE@ SET v = v + 1 WHERE k = :k;
