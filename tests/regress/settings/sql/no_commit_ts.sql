--
-- no_commit_ts: a server with track_commit_timestamp = off (and otherwise
-- every setting concord needs).  Conflict resolution compares commit
-- timestamps, so concord refuses to create a node or subscribe.
--
\set VERBOSITY default
CREATE EXTENSION concord;
SHOW track_commit_timestamp;
SELECT concord.create_node('n1', 'dbname=concord');
SELECT count(*) FROM concord.nodes;
SELECT concord.subscribe('n2', 'dbname=concord');
SELECT concord.subscribe('n2', 'dbname=concord', copy_data => true);
SELECT concord.join_mesh('n1', 'dbname=concord', 'dbname=concord');
-- Configuration that needs no node still works.
CREATE TABLE t (id int PRIMARY KEY);
SELECT concord.add_table('t');
SELECT relation, conflict_policy FROM concord.tables;
SELECT concord.remove_table('t');
DROP TABLE t;
