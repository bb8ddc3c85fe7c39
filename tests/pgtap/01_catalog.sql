-- 01_catalog: the objects of the extension, checked against the fixed SQL
-- surface (shared/API.md) and the catalog's own invariants.
BEGIN;
SELECT plan(129);

-- ---------------------------------------------------------------------------
-- Schema, role, catalog tables
-- ---------------------------------------------------------------------------
SELECT has_extension('concord');
SELECT has_schema('concord');
SELECT has_role('concord_admin');
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = 'concord_admin'), false,
          'concord_admin is a group role (NOLOGIN)');

SELECT has_table('concord', 'node', 'table concord.node');
SELECT has_table('concord', 'subscription', 'table concord.subscription');
SELECT has_table('concord', 'replicated_table', 'table concord.replicated_table');
SELECT has_table('concord', 'conflicts', 'table concord.conflicts');
SELECT has_table('concord', 'tombstone', 'table concord.tombstone');
SELECT has_table('concord', 'row_version', 'table concord.row_version');
SELECT has_table('concord', 'unique_ghost', 'table concord.unique_ghost');

SELECT col_is_pk('concord', 'node', 'node_id', 'node is keyed by node_id');
SELECT col_is_unique('concord', 'node', 'node_name', 'node names are unique');
SELECT ok(EXISTS (SELECT 1 FROM pg_index i
                   WHERE i.indrelid = 'concord.node'::regclass AND i.indisunique
                     AND i.indkey::text = '0'),
          'concord.node holds at most one row (unique index on a constant)');
SELECT col_is_pk('concord', 'subscription', 'sub_id', 'subscription is keyed by sub_id');
SELECT col_is_unique('concord', 'subscription', 'peer_name', 'one subscription per peer');
SELECT col_is_pk('concord', 'replicated_table', 'relid', 'replicated_table is keyed by relid');
SELECT col_type_is('concord', 'replicated_table', 'relid', 'regclass', 'replicated_table.relid is a regclass');
SELECT col_type_is('concord', 'replicated_table', 'resolver', 'regprocedure',
                   'replicated_table.resolver is a regprocedure');
SELECT col_is_pk('concord', 'tombstone', ARRAY['relid', 'key'], 'tombstone is keyed by (relid, key)');
SELECT col_type_is('concord', 'tombstone', 'counters', 'jsonb', 'tombstone.counters (delta column values) is jsonb');
SELECT col_is_pk('concord', 'row_version', ARRAY['relid', 'key'], 'row_version is keyed by (relid, key)');
SELECT col_type_is('concord', 'row_version', 'commit_ts', 'timestamp with time zone', 'row_version.commit_ts');
SELECT col_type_is('concord', 'row_version', 'node', 'text', 'row_version.node');
SELECT col_not_null('concord', 'row_version', 'node', 'row_version.node is NOT NULL');
SELECT has_index('concord', 'unique_ghost', 'unique_ghost_key', 'unique_ghost has index unique_ghost_key');
SELECT index_is_unique('concord', 'unique_ghost', 'unique_ghost_key',
                       'unique_ghost is keyed by (relid, index_columns, digests of value and key)');
SELECT col_type_is('concord', 'unique_ghost', 'commit_ts', 'timestamp with time zone', 'unique_ghost.commit_ts');

-- Read during logical decoding: user catalog tables.
SELECT ok((SELECT 'user_catalog_table=true' = ANY (reloptions) FROM pg_class
            WHERE oid = 'concord.node'::regclass),
          'concord.node is a user_catalog_table');
SELECT ok((SELECT 'user_catalog_table=true' = ANY (reloptions) FROM pg_class
            WHERE oid = 'concord.replicated_table'::regclass),
          'concord.replicated_table is a user_catalog_table');

-- concord.conflicts: the columns API.md promises.
SELECT col_type_is('concord', 'conflicts', 'at', 'timestamp with time zone', 'conflicts.at');
SELECT col_type_is('concord', 'conflicts', 'relation', 'regclass', 'conflicts.relation');
SELECT col_type_is('concord', 'conflicts', 'conflict_type', 'text', 'conflicts.conflict_type');
SELECT col_type_is('concord', 'conflicts', 'resolution', 'text', 'conflicts.resolution');
SELECT col_type_is('concord', 'conflicts', 'local_origin', 'text', 'conflicts.local_origin');
SELECT col_type_is('concord', 'conflicts', 'remote_origin', 'text', 'conflicts.remote_origin');
SELECT col_type_is('concord', 'conflicts', 'local_commit_ts', 'timestamp with time zone', 'conflicts.local_commit_ts');
SELECT col_type_is('concord', 'conflicts', 'remote_commit_ts', 'timestamp with time zone', 'conflicts.remote_commit_ts');
SELECT col_type_is('concord', 'conflicts', 'local_tuple', 'jsonb', 'conflicts.local_tuple');
SELECT col_type_is('concord', 'conflicts', 'remote_tuple', 'jsonb', 'conflicts.remote_tuple');

-- ---------------------------------------------------------------------------
-- Views
-- ---------------------------------------------------------------------------
SELECT has_view('concord', 'peers', 'view concord.peers');
SELECT has_view('concord', 'tables', 'view concord.tables');
SELECT has_view('concord', 'conflict_stats', 'view concord.conflict_stats');
SELECT has_view('concord', 'nodes', 'view concord.nodes');
SELECT has_view('concord', 'copy_progress', 'view concord.copy_progress');

SELECT col_type_is('concord', 'peers', 'peer_name', 'text', 'peers.peer_name');
SELECT col_type_is('concord', 'peers', 'status', 'text', 'peers.status');
SELECT col_type_is('concord', 'peers', 'received_lsn', 'pg_lsn', 'peers.received_lsn');
SELECT col_type_is('concord', 'peers', 'applied_lsn', 'pg_lsn', 'peers.applied_lsn');
SELECT col_type_is('concord', 'peers', 'lag_bytes', 'bigint', 'peers.lag_bytes');
SELECT col_type_is('concord', 'peers', 'last_error', 'text', 'peers.last_error');
SELECT col_type_is('concord', 'peers', 'last_error_at', 'timestamp with time zone', 'peers.last_error_at');

SELECT col_type_is('concord', 'tables', 'relation', 'regclass', 'tables.relation');
SELECT col_type_is('concord', 'tables', 'conflict_policy', 'text', 'tables.conflict_policy');
SELECT col_type_is('concord', 'tables', 'resolver', 'regprocedure', 'tables.resolver');
SELECT col_type_is('concord', 'tables', 'delta_columns', 'text[]', 'tables.delta_columns');

SELECT col_type_is('concord', 'conflict_stats', 'relation', 'regclass', 'conflict_stats.relation');
SELECT col_type_is('concord', 'conflict_stats', 'conflict_type', 'text', 'conflict_stats.conflict_type');
SELECT col_type_is('concord', 'conflict_stats', 'resolution', 'text', 'conflict_stats.resolution');
SELECT col_type_is('concord', 'conflict_stats', 'count', 'bigint', 'conflict_stats.count');
SELECT col_type_is('concord', 'conflict_stats', 'last_at', 'timestamp with time zone', 'conflict_stats.last_at');

SELECT col_type_is('concord', 'nodes', 'node_name', 'text', 'nodes.node_name');
SELECT col_type_is('concord', 'nodes', 'dsn', 'text', 'nodes.dsn');

SELECT columns_are('concord', 'copy_progress',
                   ARRAY['pid', 'peer_name', 'relation', 'tables_done', 'tables_total', 'rows', 'bytes',
                         'total_rows', 'total_bytes', 'started_at'],
                   'concord.copy_progress has the columns of concord.copy_progress()');
SELECT col_type_is('concord', 'copy_progress', 'rows', 'bigint', 'copy_progress.rows');
SELECT col_type_is('concord', 'copy_progress', 'started_at', 'timestamp with time zone', 'copy_progress.started_at');

-- ---------------------------------------------------------------------------
-- Functions: names, argument names and defaults, return types (API.md)
-- ---------------------------------------------------------------------------
SELECT function_returns('concord', 'create_node', ARRAY['text', 'text'], 'oid');
SELECT function_returns('concord', 'drop_node', ARRAY[]::name[], 'void');
SELECT function_returns('concord', 'subscribe', ARRAY['text', 'text', 'boolean', 'boolean'], 'oid');
SELECT function_returns('concord', 'unsubscribe', ARRAY['text'], 'void');
SELECT function_returns('concord', 'pause', ARRAY['text'], 'void');
SELECT function_returns('concord', 'resume', ARRAY['text'], 'void');
SELECT function_returns('concord', 'wait_for_peers', ARRAY['interval', 'text[]'], 'boolean');
SELECT function_returns('concord', 'join_mesh', ARRAY['text', 'text', 'text', 'interval'], 'void');
SELECT function_returns('concord', 'leave_mesh', ARRAY['interval'], 'void');
SELECT function_returns('concord', 'copy_table', ARRAY['regclass', 'text'], 'bigint');
SELECT function_returns('concord', 'prune_conflicts', ARRAY['interval'], 'bigint');
SELECT function_returns('concord', 'copy_progress', ARRAY[]::name[], 'setof record');
SELECT function_returns('concord', 'tombstone_trigger', ARRAY[]::name[], 'trigger');
SELECT function_returns('concord', 'on_sql_drop', ARRAY[]::name[], 'event_trigger');
-- Earlier signatures are gone (no ambiguous overloads).
SELECT hasnt_function('concord', 'subscribe', ARRAY['text', 'text', 'boolean'],
                      'no concord.subscribe(text, text, boolean) next to the 4-argument one');
SELECT hasnt_function('concord', 'wait_for_peers', ARRAY['interval'],
                      'no concord.wait_for_peers(interval) next to the 2-argument one');
SELECT hasnt_function('concord', 'join_mesh', ARRAY['text', 'text', 'text'],
                      'no concord.join_mesh(text, text, text) next to the 4-argument one');
SELECT function_returns('concord', 'add_table', ARRAY['regclass', 'text'], 'void');
SELECT function_returns('concord', 'set_conflict_policy', ARRAY['regclass', 'text', 'regprocedure'], 'void');
SELECT function_returns('concord', 'set_delta_columns', ARRAY['regclass', 'text[]'], 'void');
SELECT function_returns('concord', 'remove_table', ARRAY['regclass'], 'void');
SELECT function_returns('concord', 'skip_transaction', ARRAY['text'], 'void');
SELECT function_returns('concord', 'redact_dsn', ARRAY['text'], 'text');
SELECT function_returns('concord', 'describe_message', ARRAY['bytea'], 'text');
SELECT function_returns('concord', 'peer_status', ARRAY[]::name[], 'setof record');

SELECT is(pg_get_function_arguments('concord.create_node(text, text)'::regprocedure),
          'node_name text, dsn text', 'create_node arguments');
SELECT is(pg_get_function_arguments('concord.subscribe(text, text, boolean, boolean)'::regprocedure),
          'peer_name text, peer_dsn text, copy_data boolean DEFAULT false, enabled boolean DEFAULT true',
          'subscribe arguments');
SELECT is(pg_get_function_arguments('concord.unsubscribe(text)'::regprocedure),
          'peer_name text', 'unsubscribe arguments');
SELECT is(pg_get_function_arguments('concord.pause(text)'::regprocedure), 'peer_name text', 'pause arguments');
SELECT is(pg_get_function_arguments('concord.resume(text)'::regprocedure), 'peer_name text', 'resume arguments');
SELECT is(pg_get_function_arguments('concord.wait_for_peers(interval, text[])'::regprocedure),
          'timeout interval DEFAULT ''00:01:00''::interval, peers text[] DEFAULT NULL::text[]',
          'wait_for_peers arguments (default 60s, all subscribers)');
SELECT is(pg_get_function_arguments('concord.join_mesh(text, text, text, interval)'::regprocedure),
          'node_name text, dsn text, via_dsn text, timeout interval DEFAULT ''00:10:00''::interval',
          'join_mesh arguments (default 10min)');
SELECT is(pg_get_function_arguments('concord.copy_table(regclass, text)'::regprocedure),
          'relation regclass, peer_name text', 'copy_table arguments');
SELECT is(pg_get_function_arguments('concord.prune_conflicts(interval)'::regprocedure),
          'older_than interval', 'prune_conflicts arguments');
SELECT is(pg_get_function_arguments('concord.add_table(regclass, text)'::regprocedure),
          'relation regclass, conflict_policy text DEFAULT ''last_update_wins''::text', 'add_table arguments');
SELECT is(pg_get_function_arguments('concord.set_conflict_policy(regclass, text, regprocedure)'::regprocedure),
          'relation regclass, conflict_policy text, resolver regprocedure DEFAULT NULL::regprocedure',
          'set_conflict_policy arguments');
SELECT is(pg_get_function_arguments('concord.set_delta_columns(regclass, text[])'::regprocedure),
          'relation regclass, columns text[]', 'set_delta_columns arguments');
SELECT is(pg_get_function_arguments('concord.remove_table(regclass)'::regprocedure),
          'relation regclass', 'remove_table arguments');
SELECT is(pg_get_function_arguments('concord.skip_transaction(text)'::regprocedure),
          'peer_name text', 'skip_transaction arguments');

-- Functions that only read are marked so; everything else is volatile.
SELECT volatility_is('concord', 'redact_dsn', ARRAY['text'], 'immutable');
SELECT volatility_is('concord', 'describe_message', ARRAY['bytea'], 'immutable');
SELECT volatility_is('concord', 'create_node', ARRAY['text', 'text'], 'volatile');
SELECT volatility_is('concord', 'subscribe', ARRAY['text', 'text', 'boolean', 'boolean'], 'volatile');
SELECT volatility_is('concord', 'wait_for_peers', ARRAY['interval', 'text[]'], 'volatile');
SELECT volatility_is('concord', 'join_mesh', ARRAY['text', 'text', 'text', 'interval'], 'volatile');
SELECT volatility_is('concord', 'leave_mesh', ARRAY['interval'], 'volatile');
SELECT volatility_is('concord', 'copy_table', ARRAY['regclass', 'text'], 'volatile');
SELECT volatility_is('concord', 'prune_conflicts', ARRAY['interval'], 'volatile');
SELECT is_strict('concord', 'redact_dsn', ARRAY['text']);
SELECT is_strict('concord', 'add_table', ARRAY['regclass', 'text']);
SELECT is_strict('concord', 'join_mesh', ARRAY['text', 'text', 'text', 'interval']);
SELECT is_strict('concord', 'copy_table', ARRAY['regclass', 'text']);
SELECT is_strict('concord', 'prune_conflicts', ARRAY['interval']);
-- wait_for_peers takes a NULL list of peers (all of them), so it is not strict.
SELECT isnt_strict('concord', 'wait_for_peers', ARRAY['interval', 'text[]']);
-- No SQL-callable function runs with its owner's rights: the C code checks the
-- caller.  The one exception is the event trigger's function (it keeps the
-- catalog true whoever drops a table), with a fixed search_path.
SELECT results_eq($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'concord'::regnamespace AND p.prosecdef
$$, $$ VALUES ('concord.on_sql_drop()') $$, 'only concord.on_sql_drop() is SECURITY DEFINER');
SELECT ok((SELECT proconfig @> ARRAY['search_path=pg_catalog, pg_temp'] FROM pg_proc
            WHERE oid = 'concord.on_sql_drop()'::regprocedure),
          'concord.on_sql_drop() runs with search_path = pg_catalog, pg_temp');

-- ---------------------------------------------------------------------------
-- Event trigger and the triggers add_table installs
-- ---------------------------------------------------------------------------
SELECT results_eq($$
    SELECT evtevent::text COLLATE "default", evtfoid::regprocedure::text, evtenabled::text, evttags IS NULL
      FROM pg_event_trigger WHERE evtname = 'concord_sql_drop'
$$, $$ VALUES ('sql_drop', 'concord.on_sql_drop()', 'O', true) $$,
   'event trigger concord_sql_drop fires concord.on_sql_drop() on every sql_drop');
SELECT ok(EXISTS (SELECT 1 FROM pg_depend d JOIN pg_event_trigger e ON e.oid = d.objid
                   WHERE d.classid = 'pg_event_trigger'::regclass AND e.evtname = 'concord_sql_drop'
                     AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'),
          'event trigger concord_sql_drop is a member of the extension');

-- ---------------------------------------------------------------------------
-- Documentation: COMMENT ON every function and view
-- ---------------------------------------------------------------------------
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace = 'concord'::regnamespace
       AND coalesce(obj_description(p.oid, 'pg_proc'), '') = ''
$$, 'every function of concord has a comment');
SELECT is_empty($$
    SELECT c.oid::regclass FROM pg_class c
     WHERE c.relnamespace = 'concord'::regnamespace AND c.relkind = 'v'
       AND coalesce(obj_description(c.oid, 'pg_class'), '') = ''
$$, 'every view of concord has a comment');
SELECT ok((SELECT count(*) FROM pg_proc WHERE pronamespace = 'concord'::regnamespace) >= 17,
          'concord has at least the functions of API.md');

-- Everything belongs to the extension (dropped with it, dumped as part of it).
SELECT is_empty($$
    SELECT c.oid::regclass FROM pg_class c
     WHERE c.relnamespace = 'concord'::regnamespace AND c.relkind IN ('r', 'v', 'S')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                          AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e')
$$, 'every table, view and sequence of concord is a member of the extension');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace = 'concord'::regnamespace
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                          AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e')
$$, 'every function of concord is a member of the extension');

SELECT * FROM finish();
ROLLBACK;
