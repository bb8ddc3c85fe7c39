-- 02_privileges: who may do what, as privileges.
--   PUBLIC         nothing at all (not even USAGE on the schema)
--   concord_admin  every configuration function; reads the views, writes no table
--   pg_monitor     reads the views and concord.conflicts; calls no configuration
--                  function; never reads a table holding a connection string
--   (concord's functions write the catalog as the extension owner, so
--   concord_admin needs no write privilege on it)
BEGIN;
SELECT plan(136);

CREATE TEMP TABLE config_functions (sig regprocedure);
INSERT INTO config_functions VALUES
    ('concord.create_node(text, text)'), ('concord.drop_node()'),
    ('concord.subscribe(text, text, boolean, boolean)'), ('concord.unsubscribe(text)'),
    ('concord.pause(text)'), ('concord.resume(text)'), ('concord.wait_for_peers(interval, text[])'),
    ('concord.join_mesh(text, text, text, interval)'), ('concord.leave_mesh(interval)'),
    ('concord.copy_table(regclass, text)'), ('concord.prune_conflicts(interval)'),
    ('concord.add_table(regclass, text)'), ('concord.set_conflict_policy(regclass, text, regprocedure)'),
    ('concord.set_delta_columns(regclass, text[])'), ('concord.remove_table(regclass)'),
    ('concord.skip_transaction(text)');
CREATE TEMP TABLE catalog_tables (rel regclass);
INSERT INTO catalog_tables VALUES
    ('concord.node'), ('concord.subscription'), ('concord.replicated_table'),
    ('concord.conflicts'), ('concord.tombstone'), ('concord.row_version'), ('concord.unique_ghost');
CREATE TEMP TABLE views (rel regclass);
INSERT INTO views VALUES ('concord.peers'), ('concord.tables'), ('concord.nodes'), ('concord.conflict_stats'),
                         ('concord.copy_progress');

-- ---------------------------------------------------------------------------
-- Schema
-- ---------------------------------------------------------------------------
-- USAGE for everybody: applied statements run as each table's owner and call
-- concord's guard functions; every object in the schema has its own privileges.
SELECT ok(has_schema_privilege('public', 'concord', 'USAGE'), 'PUBLIC has USAGE on schema concord');
SELECT ok(NOT has_schema_privilege('public', 'concord', 'CREATE'), 'PUBLIC has no CREATE on schema concord');
SELECT ok(has_schema_privilege('concord_admin', 'concord', 'USAGE'), 'concord_admin has USAGE on schema concord');
SELECT ok(NOT has_schema_privilege('concord_admin', 'concord', 'CREATE'), 'concord_admin has no CREATE on schema concord');
SELECT ok(has_schema_privilege('pg_monitor', 'concord', 'USAGE'), 'pg_monitor has USAGE on schema concord');
SELECT ok(NOT has_schema_privilege('pg_monitor', 'concord', 'CREATE'), 'pg_monitor has no CREATE on schema concord');

-- ---------------------------------------------------------------------------
-- Configuration functions (16 each)
-- ---------------------------------------------------------------------------
SELECT ok(NOT has_function_privilege('public', sig, 'EXECUTE'), 'PUBLIC cannot execute ' || sig::text)
  FROM config_functions ORDER BY sig::text;
SELECT ok(has_function_privilege('concord_admin', sig, 'EXECUTE'), 'concord_admin can execute ' || sig::text)
  FROM config_functions ORDER BY sig::text;
SELECT ok(NOT has_function_privilege('pg_monitor', sig, 'EXECUTE'), 'pg_monitor cannot execute ' || sig::text)
  FROM config_functions ORDER BY sig::text;
-- Nothing else in the schema is executable by PUBLIC beyond the harmless
-- helpers, the trigger functions (which cannot be called directly) and the
-- apply guards (yes/no answers about tables the caller may read).
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace = 'concord'::regnamespace
       AND has_function_privilege('public', p.oid, 'EXECUTE')
       AND p.proname NOT IN ('redact_dsn', 'describe_message', 'tombstone_trigger', 'on_sql_drop',
                             'written_through', 'key_deleted', 'version_recorded')
$$, 'PUBLIC can execute no other function of concord');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace = 'concord'::regnamespace
       AND has_function_privilege('public', p.oid, 'EXECUTE')
       AND p.prorettype NOT IN ('text'::regtype, 'boolean'::regtype, 'trigger'::regtype, 'event_trigger'::regtype)
$$, 'what PUBLIC may execute only renders text, answers yes/no, or runs as a trigger');
-- Monitoring functions: pg_monitor and concord_admin, nobody else.
SELECT ok(has_function_privilege(r.role, f.sig, 'EXECUTE'), r.role || ' can execute ' || f.sig::text)
  FROM (VALUES ('concord.peer_status()'::regprocedure), ('concord.copy_progress()')) f(sig),
       (VALUES ('pg_monitor'), ('concord_admin')) r(role)
 ORDER BY r.role, f.sig::text;
SELECT ok(NOT has_function_privilege('public', f.sig, 'EXECUTE'), 'PUBLIC cannot execute ' || f.sig::text)
  FROM (VALUES ('concord.peer_status()'::regprocedure), ('concord.copy_progress()')) f(sig)
 ORDER BY f.sig::text;

-- ---------------------------------------------------------------------------
-- Catalog tables: nobody but the owner writes them (7 tables x 3 roles)
-- ---------------------------------------------------------------------------
SELECT ok(NOT has_table_privilege(r.role, t.rel, 'INSERT, UPDATE, DELETE, TRUNCATE'),
          r.role || ' cannot write ' || t.rel::text)
  FROM catalog_tables t, (VALUES ('public'), ('concord_admin'), ('pg_monitor')) r(role)
 ORDER BY r.role, t.rel::text;
-- ... and the sequence behind their ids.
SELECT ok(NOT has_sequence_privilege('concord_admin', 'concord.object_id_seq', 'USAGE, UPDATE'),
          'concord_admin cannot draw from concord.object_id_seq');

-- Reading: connection strings (node, subscription) stay with the owner.
SELECT ok(NOT has_table_privilege('public', rel, 'SELECT'), 'PUBLIC cannot read ' || rel::text)
  FROM catalog_tables ORDER BY rel::text;
SELECT ok(NOT has_table_privilege('pg_monitor', 'concord.node', 'SELECT'), 'pg_monitor cannot read concord.node');
SELECT ok(NOT has_table_privilege('pg_monitor', 'concord.subscription', 'SELECT'),
          'pg_monitor cannot read concord.subscription');
SELECT ok(NOT has_column_privilege('pg_monitor', 'concord.node', 'dsn', 'SELECT'),
          'pg_monitor cannot read concord.node.dsn');
SELECT ok(NOT has_column_privilege('pg_monitor', 'concord.subscription', 'peer_dsn', 'SELECT'),
          'pg_monitor cannot read concord.subscription.peer_dsn');
SELECT ok(has_table_privilege('pg_monitor', 'concord.conflicts', 'SELECT'), 'pg_monitor can read concord.conflicts');
SELECT ok(has_table_privilege('concord_admin', 'concord.conflicts', 'SELECT'),
          'concord_admin can read concord.conflicts');
-- Keys and values of deleted and copied rows are concord's business only.
SELECT ok(NOT has_table_privilege(r.role, t.rel, 'SELECT'), r.role || ' cannot read ' || t.rel::text)
  FROM (VALUES ('concord.tombstone'::regclass), ('concord.row_version'), ('concord.unique_ghost')) t(rel),
       (VALUES ('concord_admin'), ('pg_monitor')) r(role)
 ORDER BY r.role, t.rel::text;

-- ---------------------------------------------------------------------------
-- Views: readable by concord_admin and pg_monitor, by nobody else, written by nobody
-- ---------------------------------------------------------------------------
SELECT ok(has_table_privilege('concord_admin', rel, 'SELECT'), 'concord_admin can read ' || rel::text)
  FROM views ORDER BY rel::text;
SELECT ok(has_table_privilege('pg_monitor', rel, 'SELECT'), 'pg_monitor can read ' || rel::text)
  FROM views ORDER BY rel::text;
SELECT ok(NOT has_table_privilege('public', rel, 'SELECT'), 'PUBLIC cannot read ' || rel::text)
  FROM views ORDER BY rel::text;
SELECT ok(NOT has_table_privilege(r.role, v.rel, 'INSERT, UPDATE, DELETE'), r.role || ' cannot write ' || v.rel::text)
  FROM views v, (VALUES ('concord_admin'), ('pg_monitor')) r(role)
 ORDER BY r.role, v.rel::text;

-- ---------------------------------------------------------------------------
-- Roles: membership, not a name, is what counts
-- ---------------------------------------------------------------------------
CREATE ROLE tap_concord_admin IN ROLE concord_admin;
CREATE ROLE tap_concord_monitor IN ROLE pg_monitor;
CREATE ROLE tap_concord_plain;
SELECT ok(has_function_privilege('tap_concord_admin', 'concord.add_table(regclass, text)', 'EXECUTE'),
          'a member of concord_admin can execute concord.add_table');
SELECT ok(NOT has_function_privilege('tap_concord_monitor', 'concord.add_table(regclass, text)', 'EXECUTE'),
          'a member of pg_monitor cannot execute concord.add_table');
SELECT ok(has_function_privilege('tap_concord_admin', 'concord.join_mesh(text, text, text, interval)', 'EXECUTE'),
          'a member of concord_admin can execute concord.join_mesh');
SELECT ok(NOT has_function_privilege('tap_concord_monitor', 'concord.prune_conflicts(interval)', 'EXECUTE'),
          'a member of pg_monitor cannot execute concord.prune_conflicts');
SELECT ok(has_table_privilege('tap_concord_monitor', 'concord.copy_progress', 'SELECT'),
          'a member of pg_monitor can read concord.copy_progress');
SELECT ok(NOT has_function_privilege('tap_concord_plain', 'concord.copy_progress()', 'EXECUTE'),
          'a plain role cannot execute concord.copy_progress()');
SELECT ok(has_table_privilege('tap_concord_monitor', 'concord.peers', 'SELECT'),
          'a member of pg_monitor can read concord.peers');
SELECT throws_ok($$ SET LOCAL ROLE tap_concord_plain; SELECT concord.key_deleted('concord.node'::regclass, '\x'::bytea) $$,
                 '42501', NULL, 'a plain role cannot probe tombstones of a table it may not read');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
