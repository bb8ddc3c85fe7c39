-- 03_behaviour: what the configuration functions do to the catalog and the
-- views, and the SQLSTATE of each refusal.  Everything happens inside this
-- file's transaction and is rolled back.
BEGIN;
SELECT plan(132);

CREATE TABLE tap_t (id int PRIMARY KEY, qty int, note text);
CREATE TABLE tap_no_key (id int, v text);
CREATE TABLE tap_parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE UNLOGGED TABLE tap_unlogged (id int PRIMARY KEY);
CREATE VIEW tap_view AS SELECT 1 AS id;
CREATE FUNCTION tap_resolver(local tap_t, remote tap_t, conflict_type text) RETURNS tap_t
    LANGUAGE sql AS 'SELECT remote';
CREATE FUNCTION tap_bad_resolver(local tap_t, remote tap_t) RETURNS tap_t
    LANGUAGE sql AS 'SELECT remote';

-- ---------------------------------------------------------------------------
-- Nodes
-- ---------------------------------------------------------------------------
SELECT is((SELECT count(*) FROM concord.nodes), 0::bigint, 'no node at first');
SELECT throws_ok($$ SELECT concord.drop_node() $$, '55000', NULL, 'drop_node without a node: 55000');
SELECT throws_ok($$ SELECT concord.wait_for_peers('1s') $$, '55000', NULL, 'wait_for_peers without a node: 55000');
SELECT throws_ok($$ SELECT concord.subscribe('p1', 'dbname=x') $$, '55000', NULL, 'subscribe without a node: 55000');
SELECT throws_ok($$ SELECT concord.leave_mesh() $$, '55000', 'this database is not a concord node',
                 'leave_mesh without a node: 55000');
SELECT throws_ok($$ SELECT concord.join_mesh('Bad', 'dbname=x', 'dbname=y') $$, '22023',
                 'invalid node name "Bad"', 'join_mesh: uppercase name refused');
SELECT throws_ok($$ SELECT concord.join_mesh('n1', 'host=/nonexistent/tap port=5799 dbname=x password=hunter2',
                                              'dbname=y') $$,
                 '08006', NULL, 'join_mesh: a dsn nobody listens on: 08006');
SELECT throws_matching($$ SELECT concord.join_mesh('n1', 'host=/nonexistent/tap port=5799 dbname=x password=hunter2',
                                                    'dbname=y') $$,
                       '^((?!hunter2).)*$', 'the join_mesh connection error shows no password');
SELECT is((SELECT count(*) FROM concord.nodes), 0::bigint, 'no refused join_mesh created a node');
SELECT throws_ok($$ SELECT concord.create_node('Bad', 'dbname=x') $$, '22023',
                 'invalid node name "Bad"', 'create_node: uppercase name refused');
SELECT throws_ok($$ SELECT concord.create_node('', 'dbname=x') $$, '22023',
                 'invalid node name ""', 'create_node: empty name refused');
SELECT throws_ok($$ SELECT concord.create_node(repeat('a', 25), 'dbname=x') $$, '22023', NULL,
                 'create_node: name of 25 characters refused');
SELECT throws_ok($$ SELECT concord.create_node('n1', 'nonsense') $$, '22023',
                 'invalid connection string for node "n1"', 'create_node: unparsable DSN refused');
SELECT throws_ok($$ SELECT concord.create_node('n1', 'host=x password=hunter2 bogus=1') $$, '22023',
                 'invalid connection string for node "n1"', 'create_node: unknown DSN option refused');

SELECT isnt(concord.create_node('n1', 'host=127.0.0.1 port=5799 dbname=app user=alice password=hunter2'), NULL,
            'create_node returns an oid');
SELECT results_eq($$ SELECT node_name, dsn FROM concord.nodes $$,
                  $$ VALUES ('n1'::text, 'user=''alice'' password=''********'' dbname=''app'' host=''127.0.0.1'' port=''5799'''::text) $$,
                  'concord.nodes shows the node with its password hidden');
SELECT is((SELECT node_id FROM concord.nodes), (SELECT node_id FROM concord.node),
          'concord.nodes shows the node id of concord.node');
SELECT is_empty($$ SELECT 1 FROM concord.nodes WHERE dsn LIKE '%hunter2%' $$, 'no password in concord.nodes');
SELECT throws_ok($$ SELECT concord.create_node('n2', 'dbname=x') $$, '42710', NULL,
                 'a second node in one database: 42710');
SELECT ok(concord.wait_for_peers('0s'), 'wait_for_peers with no subscriber is true at once');
SELECT ok(concord.wait_for_peers('0s', '{}'), 'wait_for_peers with an empty list of peers is true at once');
SELECT ok(concord.wait_for_peers(peers => NULL), 'wait_for_peers with a NULL list of peers is true at once');
SELECT throws_ok($$ SELECT concord.wait_for_peers('1s', ARRAY['p1']) $$, '42704',
                 'not every named peer subscribes to node "n1"', 'wait_for_peers naming a non-subscriber: 42704');
SELECT throws_ok($$ SELECT concord.wait_for_peers(NULL) $$, '22004', 'timeout must not be null',
                 'wait_for_peers with a NULL timeout: 22004');
SELECT throws_ok($$ SELECT concord.join_mesh('n2', 'dbname=x', 'dbname=y') $$, '42710',
                 'this database is already concord node "n1"', 'join_mesh on a node: 42710');

-- ---------------------------------------------------------------------------
-- Subscriptions (no peer needed for these refusals)
-- ---------------------------------------------------------------------------
SELECT throws_ok($$ SELECT concord.subscribe('n1', 'dbname=x') $$, '22023',
                 'node "n1" cannot subscribe to itself', 'subscribe to oneself by name: 22023');
SELECT throws_ok($$ SELECT concord.subscribe('P1', 'dbname=x') $$, '22023', NULL, 'subscribe: bad peer name: 22023');
SELECT throws_ok($$ SELECT concord.subscribe('p1', 'nonsense') $$, '22023',
                 'invalid connection string for peer "p1"', 'subscribe: unparsable DSN: 22023');
SELECT throws_ok($$ SELECT concord.subscribe('p1', 'host=/nonexistent/tap port=5799 dbname=x password=hunter2') $$,
                 '08006', NULL, 'subscribe to an unreachable peer: 08006');
SELECT throws_like($$ SELECT concord.subscribe('p1', 'host=/nonexistent/tap port=5799 dbname=x password=hunter2') $$,
                   'could not connect to peer "p1"%', 'the connection error names the peer');
SELECT throws_matching($$ SELECT concord.subscribe('p1', 'host=/nonexistent/tap port=5799 dbname=x password=hunter2') $$,
                       '^((?!hunter2).)*$', 'the connection error shows no password');
SELECT throws_ok($$ SELECT concord.subscribe('p1', 'host=/nonexistent/tap port=5799 dbname=x', copy_data => true) $$,
                 '08006', NULL, 'subscribe with copy_data to an unreachable peer: 08006');
SELECT throws_ok($$ SELECT concord.subscribe('P1', 'dbname=x', copy_data => true) $$, '22023', NULL,
                 'subscribe with copy_data: bad peer name: 22023');
SELECT is(concord.subscribe('p1', 'dbname=x', enabled => NULL), NULL, 'subscribe is strict (enabled => NULL)');
SELECT throws_ok($$ SELECT concord.copy_table('tap_t', 'p1') $$, '42704', 'no subscription to peer "p1"',
                 'copy_table from an unknown peer: 42704');
SELECT is(concord.copy_table('tap_t', NULL), NULL, 'copy_table is strict');
SELECT throws_ok($$ SELECT concord.unsubscribe('p1') $$, '42704', 'no subscription to peer "p1"',
                 'unsubscribe from an unknown peer: 42704');
SELECT throws_ok($$ SELECT concord.pause('p1') $$, '42704', NULL, 'pause an unknown peer: 42704');
SELECT throws_ok($$ SELECT concord.resume('p1') $$, '42704', NULL, 'resume an unknown peer: 42704');
SELECT throws_ok($$ SELECT concord.skip_transaction('p1') $$, '42704', NULL, 'skip_transaction of an unknown peer: 42704');
SELECT is((SELECT count(*) FROM concord.peers), 0::bigint, 'no refused subscription left a row in concord.peers');
SELECT is((SELECT count(*) FROM concord.copy_progress), 0::bigint, 'no copy is running');

-- ---------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------
SELECT throws_ok($$ SELECT concord.add_table('tap_no_key') $$, '42P16', NULL, 'add_table: no key: 42P16');
SELECT throws_ok($$ SELECT concord.add_table('tap_parted') $$, '42809', NULL, 'add_table: partitioned: 42809');
SELECT throws_ok($$ SELECT concord.add_table('tap_unlogged') $$, '42809', NULL, 'add_table: unlogged: 42809');
SELECT throws_ok($$ SELECT concord.add_table('tap_view') $$, '42809', NULL, 'add_table: a view: 42809');
SELECT throws_ok($$ SELECT concord.add_table('concord.conflicts') $$, '42809', NULL, 'add_table: concord''s own: 42809');
SELECT throws_ok($$ SELECT concord.add_table('tap_t', 'newest_wins') $$, '22023',
                 'unknown conflict policy "newest_wins"', 'add_table: unknown policy: 22023');
SELECT throws_ok($$ SELECT concord.add_table('tap_t', 'custom') $$, '22023', NULL,
                 'add_table with custom (no resolver possible): 22023');
SELECT is((SELECT count(*) FROM concord.tables), 0::bigint, 'no refused table is listed');

SELECT lives_ok($$ SELECT concord.add_table('tap_t') $$, 'add_table of a table with a primary key');
SELECT results_eq($$ SELECT relation, conflict_policy, resolver, delta_columns FROM concord.tables $$,
                  $$ VALUES ('tap_t'::regclass, 'last_update_wins'::text, NULL::regprocedure, '{}'::text[]) $$,
                  'concord.tables lists it with the default policy');
SELECT throws_ok($$ SELECT concord.add_table('tap_t') $$, '42710', NULL, 'add_table twice: 42710');
SELECT trigger_is('public', 'tap_t', 'concord_tombstone', 'concord', 'tombstone_trigger',
                  'add_table installs trigger concord_tombstone');
SELECT trigger_is('public', 'tap_t', 'concord_tombstone_key', 'concord', 'tombstone_trigger',
                  'add_table installs trigger concord_tombstone_key');
SELECT results_eq($$
    SELECT tgname::text COLLATE "default", tgenabled::text, tgtype::int FROM pg_trigger
     WHERE tgrelid = 'tap_t'::regclass AND tgname LIKE 'concord%' ORDER BY tgname
$$, $$ VALUES ('concord_tombstone', 'A', 9), ('concord_tombstone_key', 'O', 17) $$,
   'AFTER ROW triggers: on DELETE ENABLE ALWAYS, on UPDATE for local writes only');
SELECT alike(pg_get_triggerdef(oid), '%AFTER UPDATE OF id ON%',
            'concord_tombstone_key fires only for updates of the key columns')
  FROM pg_trigger WHERE tgrelid = 'tap_t'::regclass AND tgname = 'concord_tombstone_key';
INSERT INTO tap_t VALUES (1, 1, 'a'), (2, 2, 'b');
UPDATE tap_t SET qty = 10 WHERE id = 1;
SELECT is((SELECT count(*) FROM concord.tombstone WHERE relid = 'tap_t'::regclass), 0::bigint,
          'an update that keeps the key leaves no tombstone');
UPDATE tap_t SET id = 3 WHERE id = 1;
DELETE FROM tap_t WHERE id = 2;
SELECT is((SELECT count(*) FROM concord.tombstone WHERE relid = 'tap_t'::regclass), 2::bigint,
          'a key change and a delete leave a tombstone each');
DELETE FROM tap_t;
SELECT throws_ok($$ SELECT concord.on_sql_drop() $$, '0A000', NULL,
                 'the event trigger function cannot be called directly');

SELECT lives_ok($$ SELECT concord.set_conflict_policy('tap_t', 'first_update_wins') $$, 'set_conflict_policy');
SELECT is((SELECT conflict_policy FROM concord.tables WHERE relation = 'tap_t'::regclass), 'first_update_wins',
          'concord.tables shows the new policy');
SELECT throws_ok($$ SELECT concord.set_conflict_policy('tap_t', 'bogus') $$, '22023', NULL,
                 'set_conflict_policy: unknown policy: 22023');
SELECT throws_ok($$ SELECT concord.set_conflict_policy('tap_t', 'custom') $$, '22023',
                 'the custom policy needs a resolver function', 'custom without resolver: 22023');
SELECT throws_ok($$ SELECT concord.set_conflict_policy('tap_t', 'custom', 'tap_bad_resolver(tap_t,tap_t)') $$,
                 '42P13', NULL, 'custom with a resolver of the wrong signature: 42P13');
SELECT throws_ok($$ SELECT concord.set_conflict_policy('tap_t', 'keep_local', 'tap_resolver(tap_t,tap_t,text)') $$,
                 '22023', 'a resolver is only used with the custom policy', 'a resolver without custom: 22023');
SELECT throws_ok($$ SELECT concord.set_conflict_policy('tap_no_key', 'error') $$, '42704', NULL,
                 'set_conflict_policy of a table not replicated: 42704');
SELECT is((SELECT conflict_policy FROM concord.tables WHERE relation = 'tap_t'::regclass), 'first_update_wins',
          'refused calls left the policy alone');
SELECT lives_ok($$ SELECT concord.set_conflict_policy('tap_t', 'custom', 'tap_resolver(tap_t,tap_t,text)') $$,
                'custom with a resolver (local t, remote t, conflict_type text) RETURNS t');
SELECT results_eq($$ SELECT conflict_policy, resolver FROM concord.tables WHERE relation = 'tap_t'::regclass $$,
                  $$ VALUES ('custom'::text, 'tap_resolver(tap_t,tap_t,text)'::regprocedure) $$,
                  'concord.tables shows the custom policy and its resolver');
SELECT throws_ok($$ DROP FUNCTION tap_resolver(tap_t, tap_t, text) $$, '2BP01',
                 'cannot drop function public.tap_resolver(public.tap_t,public.tap_t,pg_catalog.text): it resolves conflicts of public.tap_t',
                 'dropping a resolver in use is refused: 2BP01');
SELECT has_function('public', 'tap_resolver', ARRAY['tap_t', 'tap_t', 'text'], 'the resolver is still there');
SELECT lives_ok($$ SELECT concord.set_conflict_policy('tap_t', 'error') $$, 'back to a policy without resolver');
SELECT lives_ok($$ DROP FUNCTION tap_resolver(tap_t, tap_t, text) $$, 'a resolver no longer in use can be dropped');
SELECT is((SELECT resolver FROM concord.tables WHERE relation = 'tap_t'::regclass), NULL,
          'the resolver is gone with the custom policy');

SELECT throws_ok($$ SELECT concord.set_delta_columns('tap_t', '{qty}') $$, '55000', NULL,
                 'delta columns without REPLICA IDENTITY FULL: 55000');
ALTER TABLE tap_t REPLICA IDENTITY FULL;
SELECT throws_ok($$ SELECT concord.set_delta_columns('tap_t', '{note}') $$, '42804', NULL,
                 'a non-numeric delta column: 42804');
SELECT throws_ok($$ SELECT concord.set_delta_columns('tap_t', '{nope}') $$, '42703', NULL,
                 'a missing delta column: 42703');
SELECT throws_ok($$ SELECT concord.set_delta_columns('tap_t', '{id}') $$, '22023', NULL,
                 'a key column as delta column: 22023');
SELECT lives_ok($$ SELECT concord.set_delta_columns('tap_t', '{qty}') $$, 'a numeric delta column');
SELECT is((SELECT delta_columns FROM concord.tables WHERE relation = 'tap_t'::regclass), '{qty}'::text[],
          'concord.tables shows the delta column');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'tap_t'::regclass AND tgname LIKE 'concord%'
              AND pg_get_triggerdef(oid) LIKE '%concord.tombstone_trigger(''qty'')'), 2::bigint,
          'set_delta_columns gives both tombstone triggers the delta columns as arguments');
SELECT is((SELECT tgenabled::text FROM pg_trigger WHERE tgrelid = 'tap_t'::regclass AND tgname = 'concord_tombstone'),
          'A', 'the reinstalled delete trigger is still ENABLE ALWAYS');
SELECT is((SELECT count(*) FROM concord.tombstone WHERE relid = 'tap_t'::regclass AND counters IS NULL), 3::bigint,
          'tombstones of a table without delta columns keep no counters');
INSERT INTO tap_t VALUES (5, 42, 'x'), (6, NULL, 'y'), (7, 3, 'z');
DELETE FROM tap_t WHERE id IN (5, 6);
UPDATE tap_t SET id = 8 WHERE id = 7;
SELECT results_eq($$ SELECT t.counters FROM concord.tombstone AS t
                      WHERE t.relid = 'tap_t'::regclass AND t.counters IS NOT NULL ORDER BY t.counters::text $$,
                  $$ VALUES ('{"qty": "3"}'::jsonb), ('{"qty": "42"}'), ('{"qty": null}') $$,
                  'a delete and a key change keep the old row''s delta column values (NULL too) in the tombstone');
DELETE FROM tap_t;
SELECT lives_ok($$ SELECT concord.set_delta_columns('tap_t', '{}') $$, 'no delta columns any more');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'tap_t'::regclass AND tgname LIKE 'concord%'
              AND pg_get_triggerdef(oid) LIKE '%concord.tombstone_trigger()'), 2::bigint,
          'without delta columns the tombstone triggers have no arguments');

-- A unique value may be as long as an index entry can be; a ghost holds it with the row's key besides.
SELECT lives_ok($$ INSERT INTO concord.unique_ghost (relid, index_columns, value, key, commit_ts, node)
                   SELECT 'tap_t'::regclass, '2', decode(string_agg(md5(g::text), '' ORDER BY g), 'hex'),
                          decode(string_agg(md5((-g)::text), '' ORDER BY g), 'hex'), now(), 'n9'
                     FROM generate_series(1, 250) g $$,
                'concord.unique_ghost takes values and keys longer than an index entry');
SELECT lives_ok($$ SELECT concord.remove_table('tap_t') $$, 'remove_table');
SELECT is((SELECT count(*) FROM concord.tables), 0::bigint, 'concord.tables no longer lists it');
SELECT hasnt_trigger('public', 'tap_t', 'concord_tombstone', 'remove_table drops trigger concord_tombstone');
SELECT hasnt_trigger('public', 'tap_t', 'concord_tombstone_key', 'remove_table drops trigger concord_tombstone_key');
SELECT is((SELECT count(*) FROM concord.tombstone WHERE relid = 'tap_t'::regclass), 0::bigint,
          'remove_table drops the table''s tombstones');
SELECT is((SELECT count(*) FROM concord.unique_ghost WHERE relid = 'tap_t'::regclass), 0::bigint,
          'remove_table drops the table''s unique ghosts');
SELECT throws_ok($$ SELECT concord.remove_table('tap_t') $$, '42704', NULL, 'remove_table twice: 42704');
-- A table with REPLICA IDENTITY FULL and a primary key is accepted too.
SELECT lives_ok($$ SELECT concord.add_table('tap_t', 'apply_remote') $$,
                'add_table of a table with a primary key and REPLICA IDENTITY FULL');

-- ---------------------------------------------------------------------------
-- Dropped tables (event trigger concord_sql_drop)
-- ---------------------------------------------------------------------------
CREATE TABLE tap_gone (id int PRIMARY KEY);
SELECT concord.add_table('tap_gone');
INSERT INTO tap_gone VALUES (1);
DELETE FROM tap_gone;
INSERT INTO concord.row_version (relid, key, commit_ts, node) VALUES ('tap_gone'::regclass, '\x00', now(), 'n9');
INSERT INTO concord.unique_ghost (relid, index_columns, value, key, commit_ts, node)
VALUES ('tap_gone'::regclass, '2', '\x00', '\x00', now(), 'n9');
CREATE TEMP TABLE gone AS SELECT 'tap_gone'::regclass::oid AS relid;
SELECT lives_ok($$ DROP TABLE tap_gone $$, 'a replicated table can be dropped');
SELECT is_empty($$ SELECT 1 FROM concord.replicated_table t, gone g WHERE t.relid::oid = g.relid $$,
                'a dropped table is no longer replicated');
SELECT is_empty($$ SELECT 1 FROM concord.tombstone t, gone g WHERE t.relid = g.relid $$,
                'a dropped table leaves no tombstone');
SELECT is_empty($$ SELECT 1 FROM concord.row_version v, gone g WHERE v.relid = g.relid $$,
                'a dropped table leaves no recorded row version');
SELECT is_empty($$ SELECT 1 FROM concord.unique_ghost u, gone g WHERE u.relid = g.relid $$,
                'a dropped table leaves no unique ghost');

-- ---------------------------------------------------------------------------
-- Conflict log pruning
-- ---------------------------------------------------------------------------
INSERT INTO concord.conflicts (at, relation, conflict_type, resolution)
VALUES (now() - interval '3 days', 'tap_t', 'insert_exists', 'apply_remote'),
       (now() - interval '2 hours', 'tap_t', 'update_missing', 'skip');
SELECT is(concord.prune_conflicts('1 day'), 1::bigint, 'prune_conflicts returns how many rows it deleted');
SELECT is(concord.prune_conflicts('1 day'), 0::bigint, 'nothing older is left');
SELECT is(concord.prune_conflicts('1 hour'), 1::bigint, 'a shorter age deletes more');
SELECT is(concord.prune_conflicts(NULL), NULL, 'prune_conflicts is strict');

-- ---------------------------------------------------------------------------
-- Privileges in action
-- ---------------------------------------------------------------------------
CREATE ROLE tap_concord_monitor IN ROLE pg_monitor;
CREATE ROLE tap_concord_admin IN ROLE concord_admin;
CREATE ROLE tap_concord_plain;
GRANT ALL ON tap_t TO tap_concord_admin;

SET LOCAL ROLE tap_concord_plain;
SELECT throws_ok($$ SELECT concord.add_table('tap_no_key') $$, '42501', NULL, 'a plain role: 42501');
SELECT throws_ok($$ SELECT * FROM concord.nodes $$, '42501', NULL, 'a plain role cannot read concord.nodes');
SELECT throws_ok($$ SELECT concord.join_mesh('n3', 'dbname=x', 'dbname=y') $$, '42501', NULL,
                 'a plain role cannot join a mesh');
SELECT throws_ok($$ SELECT * FROM concord.copy_progress $$, '42501', NULL,
                 'a plain role cannot read concord.copy_progress');
RESET ROLE;

SET LOCAL ROLE tap_concord_monitor;
SELECT throws_ok($$ SELECT concord.remove_table('tap_t') $$, '42501', NULL, 'a pg_monitor member cannot configure');
SELECT throws_ok($$ SELECT dsn FROM concord.node $$, '42501', NULL, 'a pg_monitor member cannot read concord.node');
SELECT is((SELECT dsn FROM concord.nodes),
          'user=''alice'' password=''********'' dbname=''app'' host=''127.0.0.1'' port=''5799''',
          'a pg_monitor member sees the DSN without its password');
SELECT is((SELECT count(*) FROM concord.tables), 1::bigint, 'a pg_monitor member reads concord.tables');
SELECT is((SELECT count(*) FROM concord.copy_progress), 0::bigint, 'a pg_monitor member reads concord.copy_progress');
SELECT throws_ok($$ SELECT concord.prune_conflicts('1 day') $$, '42501', NULL,
                 'a pg_monitor member cannot prune conflicts');
SELECT throws_ok($$ SELECT concord.leave_mesh() $$, '42501', NULL, 'a pg_monitor member cannot leave the mesh');
SELECT throws_ok($$ SELECT * FROM concord.row_version $$, '42501', NULL,
                 'a pg_monitor member cannot read concord.row_version');
RESET ROLE;

SET LOCAL ROLE tap_concord_admin;
SELECT lives_ok($$ SELECT concord.set_conflict_policy('tap_t', 'keep_local') $$,
                'a concord_admin member sets a conflict policy');
SELECT lives_ok($$ SELECT concord.drop_node() $$, 'a concord_admin member drops the node');
SELECT lives_ok($$ SELECT concord.create_node('n2', 'dbname=app password=hunter2') $$,
                'a concord_admin member creates a node');
SELECT lives_ok($$ SELECT concord.prune_conflicts('1 day') $$, 'a concord_admin member prunes conflicts');
SELECT throws_ok($$ SELECT concord.copy_table('tap_t', 'p1') $$, '42704', NULL,
                 'a concord_admin member gets past copy_table''s privilege check');
SELECT lives_ok($$ SELECT concord.leave_mesh() $$, 'a concord_admin member leaves the mesh (no peers)');
SELECT is((SELECT count(*) FROM concord.nodes), 0::bigint, 'leave_mesh removed the node');
SELECT throws_ok($$ DELETE FROM concord.replicated_table $$, '42501', NULL,
                 'a concord_admin member cannot write the catalog directly');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- DROP EXTENSION (last: nothing of concord is left after it)
-- ---------------------------------------------------------------------------
SET LOCAL client_min_messages = warning;   -- the lists of cascaded drops are not the point
SELECT throws_ok($$ DROP EXTENSION concord $$, '2BP01', NULL,
                 'DROP EXTENSION without CASCADE is refused while a table is replicated (its triggers)');
SELECT lives_ok($$ DROP EXTENSION concord CASCADE $$, 'DROP EXTENSION concord CASCADE');
SELECT is_empty($$ SELECT 1 FROM pg_class WHERE relnamespace = 'concord'::regnamespace
                   UNION ALL SELECT 1 FROM pg_proc WHERE pronamespace = 'concord'::regnamespace $$,
                'no table, view, sequence or function of concord is left');
SELECT hasnt_trigger('public', 'tap_t', 'concord_tombstone', 'the replicated table lost trigger concord_tombstone');
SELECT hasnt_trigger('public', 'tap_t', 'concord_tombstone_key', 'the replicated table lost trigger concord_tombstone_key');
SELECT is_empty($$ SELECT 1 FROM pg_event_trigger WHERE evtname = 'concord_sql_drop' $$,
                'event trigger concord_sql_drop is gone');
SELECT lives_ok($$ DROP TABLE tap_t CASCADE $$, 'a formerly replicated table drops without concord');

SELECT * FROM finish();
ROLLBACK;
