--
-- not_preloaded: concord installed in a server that does not preload it.
-- Its workers need shared memory set up at server start, so every function
-- that needs them refuses with a clear error; the rest works, the output
-- plugin included.
--
\set VERBOSITY default
CREATE EXTENSION concord;
SELECT current_setting('shared_preload_libraries') = '' AS not_preloaded;
SELECT concord.create_node('n1', 'dbname=concord');
SELECT count(*) FROM concord.nodes;
SELECT concord.subscribe('n2', 'dbname=concord');
SELECT concord.drop_node();
SELECT concord.pause('n2');
SELECT concord.join_mesh('n1', 'dbname=concord', 'dbname=concord');
SELECT concord.leave_mesh();
SELECT * FROM concord.peers;
SELECT * FROM concord.copy_progress;
-- concord.max_peers sizes shared memory: it exists only when preloaded.  The
-- other settings exist (and keep their defaults).
SHOW concord.max_peers;
SHOW concord.retry_delay_max;
-- Configuration that needs no worker still works, the event trigger too.
CREATE TABLE t (id int PRIMARY KEY);
SELECT concord.add_table('t');
SELECT relation, conflict_policy FROM concord.tables;
SELECT concord.copy_table('t', 'n2');
SELECT concord.prune_conflicts('1 day');
DROP TABLE t;
SELECT count(*) FROM concord.tables;
SELECT concord.redact_dsn('host=db1 password=hunter2');
-- A new session that loads concord only as an output plugin.
\c
SELECT 'created' FROM pg_create_logical_replication_slot('regress_concord_slot', 'concord');
SELECT count(*) FROM pg_logical_slot_get_binary_changes('regress_concord_slot', NULL, NULL, 'proto_version', '1');
SELECT pg_drop_replication_slot('regress_concord_slot');
