--
-- 01_node: concord.create_node(), concord.drop_node(), concord.nodes,
-- concord.redact_dsn(), and leave_mesh() / wait_for_peers() on a node without
-- peers.  Every error path of node creation.
--
-- Leaves the database without a node.
--
\set VERBOSITY default

-- Nothing exists yet.
SELECT count(*) FROM concord.nodes;
SELECT concord.drop_node();
SELECT concord.wait_for_peers('1s');
SELECT concord.wait_for_peers('1s', ARRAY['n2']);
SELECT concord.leave_mesh();

-- Node names: lowercase letters, digits and underscores, starting with a
-- letter, at most 24 characters.
SELECT concord.create_node('', 'dbname=concord');
SELECT concord.create_node('Upper', 'dbname=concord');
SELECT concord.create_node('1node', 'dbname=concord');
SELECT concord.create_node('_node', 'dbname=concord');
SELECT concord.create_node('node-1', 'dbname=concord');
SELECT concord.create_node('node one', 'dbname=concord');
SELECT concord.create_node('nöde', 'dbname=concord');
SELECT concord.create_node('abcdefghijklmnopqrstuvwxy', 'dbname=concord');  -- 25 characters
-- The functions are STRICT: NULL in, NULL out, nothing created.
SELECT concord.create_node(NULL, 'dbname=concord') IS NULL AS null_name;
SELECT concord.create_node('n1', NULL) IS NULL AS null_dsn;
SELECT count(*) FROM concord.nodes;

-- Connection strings must parse (key=value or URI form).
SELECT concord.create_node('n1', 'nonsense');
SELECT concord.create_node('n1', 'host=localhost bogus_option=1');
SELECT concord.create_node('n1', 'host=''localhost');
SELECT concord.create_node('n1', 'postgresql://localhost:5432/db?bogus=1');
SELECT concord.create_node('n1', 'postgresql://[::1');
-- ... and a refused one never echoes its password.
SELECT concord.create_node('n1', 'host=localhost password=hunter2 bogus_option=1');
SELECT count(*) FROM concord.nodes;

-- A valid node.  The DSN's password never shows in concord.nodes.
SELECT concord.create_node('abcdefghijklmnopqrstuvwx',  -- 24 characters: the maximum
                           'host=127.0.0.1 port=5799 dbname=concord user=alice password=hunter2') IS NOT NULL AS created;
SELECT node_name, dsn FROM concord.nodes;
SELECT n.node_id = v.node_id AS same_id, v.created_at IS NOT NULL AS has_created_at
  FROM concord.node n, concord.nodes v;

-- One node per database, whatever the name.
SELECT concord.create_node('abcdefghijklmnopqrstuvwx', 'dbname=concord');
SELECT concord.create_node('n2', 'dbname=concord');
SELECT count(*) FROM concord.nodes;

-- With no subscriber, wait_for_peers is true at once, whatever the timeout.
SELECT concord.wait_for_peers();
SELECT concord.wait_for_peers('0s');
-- The timeout is required; the list of peers is optional (NULL or empty: all
-- subscribers, NULL elements are ignored) ...
SELECT concord.wait_for_peers(NULL);
SELECT concord.wait_for_peers(NULL, ARRAY['n2']);
SELECT concord.wait_for_peers('1s', NULL);
SELECT concord.wait_for_peers('1s', '{}');
SELECT concord.wait_for_peers('1s', ARRAY[NULL]::text[]);
SELECT concord.wait_for_peers(peers => NULL);
-- ... but every peer it names must subscribe to this node.
SELECT concord.wait_for_peers('1s', ARRAY['n2']);
SELECT concord.wait_for_peers('1s', ARRAY['n2', NULL]);
SELECT concord.wait_for_peers('0s', ARRAY['abcdefghijklmnopqrstuvwx']);   -- this node itself

-- drop_node removes the identity; a second call has nothing to drop.
SELECT concord.drop_node();
SELECT count(*) FROM concord.nodes;
SELECT concord.drop_node();

-- leave_mesh of a node with no peers just removes its identity.
SELECT concord.create_node('n1', 'dbname=concord') IS NOT NULL AS created;
SELECT concord.leave_mesh();
SELECT count(*) FROM concord.nodes;
SELECT concord.leave_mesh();

-- A rolled-back drop_node changes nothing.
SELECT concord.create_node('n1', 'dbname=concord') IS NOT NULL AS created;
BEGIN;
SELECT concord.drop_node();
SELECT count(*) FROM concord.nodes;
ROLLBACK;
SELECT node_name FROM concord.nodes;
SELECT concord.drop_node();

-- A node can be created again after a drop, also from a URI.
SELECT concord.create_node('n1', 'postgresql://bob:pa%20ss@127.0.0.1:5799/concord?sslmode=disable') IS NOT NULL AS created;
SELECT node_name, dsn FROM concord.nodes;
SELECT concord.drop_node();

-- redact_dsn: every password replaced, everything else kept.
SELECT concord.redact_dsn('host=db1 port=5432 dbname=app user=alice password=hunter2');
SELECT concord.redact_dsn('host=db1 password=''it\''s a secret'' dbname=app');
SELECT concord.redact_dsn('postgresql://alice:hunter2@db1:5432/app');
SELECT concord.redact_dsn('postgres://db1/app?user=alice&password=hunter2&sslmode=require');
SELECT concord.redact_dsn('host=db1 dbname=app');
SELECT concord.redact_dsn('');
SELECT concord.redact_dsn('password=hunter2 this is not a dsn');
SELECT concord.redact_dsn(NULL) IS NULL AS null_dsn;
