--
-- 04_privileges: who may configure concord and who may watch it.
--
--   * a plain role may do nothing (not even see the schema);
--   * a member of pg_monitor may read the views (never a password) but call
--     no configuration function and read no catalog table holding a DSN;
--   * a member of concord_admin may configure concord;
--   * nobody but a superuser (and concord's own functions) writes the catalog.
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
-- row is written directly (no peer is needed to test who may read it).
SELECT concord.create_node('n1', 'host=127.0.0.1 port=5799 dbname=concord user=alice password=hunter2')
       IS NOT NULL AS created;
INSERT INTO concord.subscription (peer_name, peer_dsn, link_name)
VALUES ('p1', 'postgresql://bob:hunter2@%2Fnonexistent%2Fconcord:5798/concord', 'concord_p1_n1');
SELECT concord.add_table('priv_items');
ALTER TABLE priv_items REPLICA IDENTITY FULL;

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
SELECT concord.add_table('priv_items');
SELECT concord.set_conflict_policy('priv_items', 'error');
SELECT concord.set_delta_columns('priv_items', '{qty}');
SELECT concord.remove_table('priv_items');
SELECT * FROM concord.peers;
SELECT * FROM concord.nodes;
SELECT * FROM concord.tables;
SELECT * FROM concord.conflicts;
SELECT * FROM concord.conflict_stats;
SELECT * FROM concord.node;
SELECT concord.redact_dsn('password=x');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- A member of pg_monitor: reads the views, configures nothing
-- ---------------------------------------------------------------------------
SET ROLE regress_concord_monitor;
SELECT node_name, dsn FROM concord.nodes;
SELECT peer_name, peer_dsn, link_name FROM concord.peers;
SELECT relation, conflict_policy, resolver, delta_columns FROM concord.tables;
SELECT count(*) FROM concord.conflicts;
SELECT count(*) FROM concord.conflict_stats;
SELECT count(*) FROM concord.replicated_table;
SELECT count(*) >= 0 AS readable FROM concord.peer_status();
-- The catalog tables that hold connection strings stay closed.
SELECT * FROM concord.node;
SELECT * FROM concord.subscription;
SELECT * FROM concord.tombstone;
-- No configuration function.
SELECT concord.create_node('n2', 'dbname=concord');
SELECT concord.drop_node();
SELECT concord.subscribe('p2', 'dbname=concord');
SELECT concord.unsubscribe('p1');
SELECT concord.pause('p1');
SELECT concord.resume('p1');
SELECT concord.skip_transaction('p1');
SELECT concord.wait_for_peers();
SELECT concord.add_table('priv_items');
SELECT concord.set_conflict_policy('priv_items', 'error');
SELECT concord.set_delta_columns('priv_items', '{qty}');
SELECT concord.remove_table('priv_items');
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
    concord.subscribe(text, text, boolean), concord.unsubscribe(text),
    concord.pause(text), concord.resume(text), concord.skip_transaction(text),
    concord.wait_for_peers(interval), concord.add_table(regclass, text),
    concord.set_conflict_policy(regclass, text, regprocedure),
    concord.set_delta_columns(regclass, text[]), concord.remove_table(regclass)
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
SELECT concord.add_table('priv_items');
SELECT concord.set_conflict_policy('priv_items', 'error');
SELECT concord.set_delta_columns('priv_items', '{qty}');
SELECT concord.remove_table('priv_items');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION concord.create_node(text, text), concord.drop_node(),
    concord.subscribe(text, text, boolean), concord.unsubscribe(text),
    concord.pause(text), concord.resume(text), concord.skip_transaction(text),
    concord.wait_for_peers(interval), concord.add_table(regclass, text),
    concord.set_conflict_policy(regclass, text, regprocedure),
    concord.set_delta_columns(regclass, text[]), concord.remove_table(regclass)
    FROM regress_concord_plain;
REVOKE USAGE ON SCHEMA concord FROM regress_concord_plain;

-- ---------------------------------------------------------------------------
-- A member of concord_admin configures concord
-- ---------------------------------------------------------------------------
DELETE FROM concord.subscription;
SELECT concord.drop_node();
SELECT concord.remove_table('priv_items');
ALTER TABLE priv_items REPLICA IDENTITY DEFAULT;
ALTER TABLE priv_items OWNER TO regress_concord_admin;
INSERT INTO concord.subscription (peer_name, peer_dsn, link_name)
VALUES ('p1', 'host=/nonexistent/concord port=5798 dbname=concord password=hunter2', 'concord_p1_n1');
SET ROLE regress_concord_admin;
SELECT concord.create_node('n1', 'host=127.0.0.1 port=5799 dbname=concord password=hunter2') IS NOT NULL AS created;
SELECT node_name, dsn FROM concord.nodes;
SELECT concord.wait_for_peers();
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
-- (the slot on the unreachable peer cannot be dropped: a warning, no password)
SELECT concord.unsubscribe('p1');
SELECT concord.subscribe('ghost', 'host=/nonexistent/concord port=5799 dbname=x');
SELECT count(*) FROM concord.peers;
SELECT count(*) FROM concord.conflicts;
-- ... but writes no catalog table directly.
INSERT INTO concord.node (node_name, dsn) VALUES ('n9', 'dbname=x');
UPDATE concord.replicated_table SET conflict_policy = 'apply_remote';
DELETE FROM concord.replicated_table;
INSERT INTO concord.subscription (peer_name, peer_dsn, link_name) VALUES ('p9', 'dbname=x', 'x');
DELETE FROM concord.conflicts;
INSERT INTO concord.tombstone (relid) VALUES (1);
SELECT * FROM concord.node;
SELECT * FROM concord.subscription;
SELECT concord.drop_node();
SELECT count(*) FROM concord.nodes;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- PUBLIC
-- ---------------------------------------------------------------------------
SELECT r.rolname, o.name,
       has_table_privilege(r.oid, o.name, 'SELECT') AS sel,
       has_table_privilege(r.oid, o.name, 'INSERT, UPDATE, DELETE, TRUNCATE') AS write
  FROM (VALUES ('concord.node'), ('concord.subscription'), ('concord.replicated_table'),
               ('concord.conflicts'), ('concord.tombstone'), ('concord.peers'),
               ('concord.nodes'), ('concord.tables'), ('concord.conflict_stats')) AS o(name),
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
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM concord.replicated_table) THEN
        PERFORM concord.remove_table('priv_items');
    END IF;
END
$$;
DROP FUNCTION priv_resolver(priv_items, priv_items, text);
DROP TABLE priv_items;
DROP ROLE regress_concord_plain, regress_concord_monitor, regress_concord_admin;
