--
-- no_logical: a server with wal_level = replica (and otherwise every setting
-- concord needs).  Nothing could be decoded, so concord refuses to create a
-- node or subscribe.
--
\set VERBOSITY default
CREATE EXTENSION concord;
SHOW wal_level;
SELECT concord.create_node('n1', 'dbname=concord');
SELECT count(*) FROM concord.nodes;
SELECT concord.subscribe('n2', 'dbname=concord');
SELECT concord.subscribe('n2', 'dbname=concord', copy_data => true);
SELECT concord.join_mesh('n1', 'dbname=concord', 'dbname=concord');
