--
-- 04_privileges: who may configure concord and who may watch it.
--
--   * a plain role may do nothing (not even see the schema);
--   * a member of pg_monitor may read the views (never a password) but call
--     no configuration function and read no catalog table holding a DSN;
--   * a member of concord_admin may configure concord (concord's functions
--     write the catalog as the extension's owner);
--   * nobody but a superuser (and concord's own functions) writes the catalog;
--   * the event trigger concord_sql_drop keeps the catalog true whoever drops
--     a replicated table or a resolver.
--
-- Leaves no node, table or role behind.
--
\set VERBOSITY default
CREATE ROLE regress_concord_plain;
CREATE ROLE regress_concord_monitor IN ROLE pg_monitor;
CREATE ROLE regress_concord_admin IN ROLE concord_admin;

CREATE TABLE priv_items (id int PRIMARY KEY, qty int);
GRANT ALL ON priv_items TO regress_concord_admin;
CREATE FUNCTION priv_resolver(local priv_items, remote priv_items, conflict_type text) RETURNS priv_items
    LANGUAGE sql AS 'SELECT remote';

-- A node and a subscription row whose DSNs carry passwords.  The subscription
-- row is written directly (no peer is needed to test who may read it), paused
-- so that no worker tries to reach its peer.
SELECT concord.create_node('n1', 'host=127.0.0.1 port=5799 dbname=concord user=alice password=hunter2')
       IS NOT NULL AS created;
INSERT INTO concord.subscription (peer_name, peer_dsn, link_name, enabled)
VALUES ('p1', 'postgresql://bob:hunter2@%2Fnonexistent%2Fconcord:5798/concord', 'concord_p1_n1', false);
SELECT concord.add_table('priv_items');
ALTER TABLE priv_items REPLICA IDENTITY FULL;
INSERT INTO concord.conflicts (at, relation, conflict_type, resolution)
VALUES (now() - interval '10 days', 'priv_items', 'insert_exists', 'apply_remote'),
       (now() - interval '2 days', 'priv_items', 'update_missing', 'skip'),
       (now(), 'priv_items', 'delete_missing', 'skip');

-- ---------------------------------------------------------------------------
-- A plain role: no access to schema concord at all
-- ---------------------------------------------------------------------------
SET ROLE regress_concord_plain;
SELECT concord.create_node('n2', 'dbname=concord');
SELECT concord.drop_node();
SELECT concord.subscribe('p2', 'dbname=concord');
SELECT concord.unsubscribe('p1');
SELECT concord.pause('p1');
SELECT concord.resume('p1');
SELECT concord.skip_transaction('p1');
SELECT concord.wait_for_peers();
SELECT concord.join_mesh('n2', 'dbname=concord', 'dbname=concord');
SELECT concord.leave_mesh();
SELECT concord.copy_table('priv_items', 'p1');
SELECT concord.add_table('priv_items');
SELECT concord.set_conflict_policy('priv_items', 'error');
SELECT concord.set_delta_columns('priv_items', '{qty}');
SELECT concord.remove_table('priv_items');
SELECT concord.prune_conflicts('1 day');
SELECT * FROM concord.peers;
SELECT * FROM concord.nodes;
SELECT * FROM concord.tables;
SELECT * FROM concord.conflicts;
SELECT * FROM concord.conflict_stats;
SELECT * FROM concord.copy_progress;
SELECT * FROM concord.copy_progress();
SELECT * FROM concord.node;
SELECT * FROM concord.row_version;
SELECT concord.redact_dsn('password=x');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- A member of pg_monitor: reads the views, configures nothing
-- ---------------------------------------------------------------------------
SET ROLE regress_concord_monitor;
SELECT node_name, dsn FROM concord.nodes;
SELECT peer_name, status, peer_dsn, link_name FROM concord.peers;
SELECT relation, conflict_policy, resolver, delta_columns FROM concord.tables;
SELECT count(*) FROM concord.conflicts;
SELECT relation, conflict_type, resolution, count FROM concord.conflict_stats
 ORDER BY conflict_type COLLATE "C";
SELECT count(*) FROM concord.replicated_table;
SELECT count(*) >= 0 AS readable FROM concord.peer_status();
SELECT count(*) AS copies FROM concord.copy_progress;
SELECT count(*) AS copies FROM concord.copy_progress();
-- The catalog tables that hold connection strings or keys stay closed.
SELECT * FROM concord.node;
SELECT * FROM concord.subscription;
SELECT * FROM concord.tombstone;
SELECT * FROM concord.row_version;
-- No configuration function.
SELECT concord.create_node('n2', 'dbname=concord');
SELECT concord.drop_node();
SELECT concord.subscribe('p2', 'dbname=concord');
SELECT concord.unsubscribe('p1');
SELECT concord.pause('p1');
SELECT concord.resume('p1');
SELECT concord.skip_transaction('p1');
SELECT concord.wait_for_peers();
SELECT concord.join_mesh('n2', 'dbname=concord', 'dbname=concord');
SELECT concord.leave_mesh();
SELECT concord.copy_table('priv_items', 'p1');
SELECT concord.add_table('priv_items');
SELECT concord.set_conflict_policy('priv_items', 'error');
SELECT concord.set_delta_columns('priv_items', '{qty}');
SELECT concord.remove_table('priv_items');
SELECT concord.prune_conflicts('1 day');
-- No writes.
INSERT INTO concord.conflicts (conflict_type, resolution) VALUES ('x', 'y');
DELETE FROM concord.replicated_table;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- The functions check the caller themselves too: EXECUTE granted by mistake
-- to a role outside concord_admin is not enough.
-- ---------------------------------------------------------------------------
GRANT USAGE ON SCHEMA concord TO regress_concord_plain;
GRANT EXECUTE ON FUNCTION concord.create_node(text, text), concord.drop_node(),
    concord.subscribe(text, text, boolean, boolean), concord.unsubscribe(text),
    concord.pause(text), concord.resume(text), concord.skip_transaction(text),
    concord.wait_for_peers(interval, text[]), concord.join_mesh(text, text, text, interval),
    concord.leave_mesh(interval), concord.copy_table(regclass, text), concord.add_table(regclass, text),
    concord.set_conflict_policy(regclass, text, regprocedure),
    concord.set_delta_columns(regclass, text[]), concord.remove_table(regclass),
    concord.prune_conflicts(interval)
    TO regress_concord_plain;
SET ROLE regress_concord_plain;
SELECT concord.create_node('n2', 'dbname=concord');
SELECT concord.drop_node();
SELECT concord.subscribe('p2', 'dbname=concord');
SELECT concord.unsubscribe('p1');
SELECT concord.pause('p1');
SELECT concord.resume('p1');
SELECT concord.skip_transaction('p1');
SELECT concord.wait_for_peers();
SELECT concord.join_mesh('n2', 'dbname=concord', 'dbname=concord');
SELECT concord.leave_mesh();
SELECT concord.copy_table('priv_items', 'p1');
SELECT concord.add_table('priv_items');
SELECT concord.set_conflict_policy('priv_items', 'error');
SELECT concord.set_delta_columns('priv_items', '{qty}');
SELECT concord.remove_table('priv_items');
SELECT concord.prune_conflicts('1 day');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION concord.create_node(text, text), concord.drop_node(),
    concord.subscribe(text, text, boolean, boolean), concord.unsubscribe(text),
    concord.pause(text), concord.resume(text), concord.skip_transaction(text),
    concord.wait_for_peers(interval, text[]), concord.join_mesh(text, text, text, interval),
    concord.leave_mesh(interval), concord.copy_table(regclass, text), concord.add_table(regclass, text),
    concord.set_conflict_policy(regclass, text, regprocedure),
    concord.set_delta_columns(regclass, text[]), concord.remove_table(regclass),
    concord.prune_conflicts(interval)
    FROM regress_concord_plain;
REVOKE USAGE ON SCHEMA concord FROM regress_concord_plain;
SELECT count(*) AS conflicts FROM concord.conflicts;

-- ---------------------------------------------------------------------------
-- A member of concord_admin configures concord
-- ---------------------------------------------------------------------------
DELETE FROM concord.subscription;
SELECT concord.drop_node();
SELECT concord.remove_table('priv_items');
ALTER TABLE priv_items REPLICA IDENTITY DEFAULT;
ALTER TABLE priv_items OWNER TO regress_concord_admin;
INSERT INTO concord.subscription (peer_name, peer_dsn, link_name, enabled)
VALUES ('p1', 'host=/nonexistent/concord port=5798 dbname=concord password=hunter2', 'concord_p1_n1', false);
SET ROLE regress_concord_admin;
SELECT concord.create_node('n1', 'host=127.0.0.1 port=5799 dbname=concord password=hunter2') IS NOT NULL AS created;
SELECT node_name, dsn FROM concord.nodes;
SELECT concord.wait_for_peers();
SELECT concord.wait_for_peers('1s', ARRAY['p1']);
SELECT concord.add_table('priv_items');
SELECT concord.set_conflict_policy('priv_items', 'error');
SELECT concord.set_conflict_policy('priv_items', 'custom', 'priv_resolver(priv_items,priv_items,text)');
SELECT relation, conflict_policy, resolver, delta_columns FROM concord.tables;
SELECT concord.remove_table('priv_items');
SELECT concord.add_table('priv_items', 'keep_local');
ALTER TABLE priv_items REPLICA IDENTITY FULL;
SELECT concord.set_delta_columns('priv_items', '{qty}');
SELECT relation, conflict_policy, resolver, delta_columns FROM concord.tables;
SELECT concord.pause('p1');
SELECT peer_name, status FROM concord.peers;
SELECT concord.resume('p1');
SELECT concord.skip_transaction('p1');
-- copy_table and leave_mesh get past the privilege check (and fail on the
-- unreachable peer, which shows no password) ...
SELECT concord.copy_table('priv_items', 'p1');
SELECT concord.leave_mesh();
SELECT node_name FROM concord.nodes;
-- ... and so does join_mesh (this database is a node already).
SELECT concord.join_mesh('n2', 'dbname=concord', 'dbname=concord');
-- (the slot on the unreachable peer cannot be dropped: a warning, no password)
SELECT concord.unsubscribe('p1');
SELECT concord.subscribe('ghost', 'host=/nonexistent/concord port=5799 dbname=x');
SELECT concord.subscribe('ghost', 'host=/nonexistent/concord port=5799 dbname=x', copy_data => true);
SELECT count(*) FROM concord.peers;
-- prune_conflicts deletes for it what it may not delete itself.
SELECT count(*) FROM concord.conflicts;
SELECT concord.prune_conflicts('5 days');
SELECT concord.prune_conflicts('1 day');
SELECT concord.prune_conflicts('1 day');
SELECT conflict_type FROM concord.conflicts;
SELECT concord.prune_conflicts(NULL) IS NULL AS strict;
-- ... but writes no catalog table directly.
INSERT INTO concord.node (node_name, dsn) VALUES ('n9', 'dbname=x');
UPDATE concord.replicated_table SET conflict_policy = 'apply_remote';
DELETE FROM concord.replicated_table;
INSERT INTO concord.subscription (peer_name, peer_dsn, link_name) VALUES ('p9', 'dbname=x', 'x');
DELETE FROM concord.conflicts;
INSERT INTO concord.tombstone (relid) VALUES (1);
DELETE FROM concord.row_version;
SELECT * FROM concord.node;
SELECT * FROM concord.subscription;
SELECT * FROM concord.row_version;
-- leave_mesh of a node without peers.
SELECT concord.leave_mesh();
SELECT count(*) FROM concord.nodes;
SELECT concord.create_node('n1', 'dbname=concord') IS NOT NULL AS created;
SELECT concord.drop_node();
SELECT count(*) FROM concord.nodes;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- The event trigger, whoever drops: a replicated table's owner drops it (it
-- is forgotten), or drops its resolver (refused).
-- ---------------------------------------------------------------------------
CREATE TABLE priv_plain (id int PRIMARY KEY);
CREATE FUNCTION priv_plain_resolver(local priv_plain, remote priv_plain, conflict_type text) RETURNS priv_plain
    LANGUAGE sql AS 'SELECT remote';
ALTER TABLE priv_plain OWNER TO regress_concord_plain;
ALTER FUNCTION priv_plain_resolver(priv_plain, priv_plain, text) OWNER TO regress_concord_plain;
SELECT concord.add_table('priv_plain');
SELECT concord.set_conflict_policy('priv_plain', 'custom', 'priv_plain_resolver(priv_plain,priv_plain,text)');
SET ROLE regress_concord_plain;
INSERT INTO priv_plain VALUES (1);
DELETE FROM priv_plain;             -- records a tombstone, which it could not write itself
RESET ROLE;
SELECT count(*) AS tombstones FROM concord.tombstone WHERE relid = 'priv_plain'::regclass;
SET ROLE regress_concord_plain;
DROP FUNCTION priv_plain_resolver(priv_plain, priv_plain, text);
DROP TABLE priv_plain CASCADE;
RESET ROLE;
SELECT relation FROM concord.tables ORDER BY relation::text COLLATE "C";
SELECT count(*) AS tombstones FROM concord.tombstone;
SET ROLE regress_concord_admin;
SELECT concord.set_conflict_policy('priv_items', 'custom', 'priv_resolver(priv_items,priv_items,text)');
DROP TABLE priv_items CASCADE;
RESET ROLE;
SELECT relation FROM concord.tables ORDER BY relation::text COLLATE "C";

-- ---------------------------------------------------------------------------
-- Privileges on every table and view, by role
-- ---------------------------------------------------------------------------
SELECT r.rolname, o.name,
       has_table_privilege(r.oid, o.name, 'SELECT') AS sel,
       has_table_privilege(r.oid, o.name, 'INSERT, UPDATE, DELETE, TRUNCATE') AS write
  FROM (VALUES ('concord.node'), ('concord.subscription'), ('concord.replicated_table'),
               ('concord.conflicts'), ('concord.tombstone'), ('concord.row_version'), ('concord.peers'),
               ('concord.nodes'), ('concord.tables'), ('concord.conflict_stats'),
               ('concord.copy_progress')) AS o(name),
       pg_roles r
 WHERE r.rolname IN ('regress_concord_plain', 'regress_concord_monitor', 'regress_concord_admin')
 ORDER BY r.rolname COLLATE "C", o.name COLLATE "C";

-- Clean up.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM concord.node) THEN
        PERFORM concord.drop_node();
    END IF;
END
$$;
DELETE FROM concord.subscription;
DELETE FROM concord.conflicts;
DROP TABLE IF EXISTS priv_items, priv_plain CASCADE;
DROP ROLE regress_concord_plain, regress_concord_monitor, regress_concord_admin;
