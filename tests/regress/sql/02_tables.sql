--
-- 02_tables: concord.add_table(), remove_table(), set_conflict_policy(),
-- set_delta_columns() and the view concord.tables.  Every error path.
--
-- Tables need no node: they can be configured before create_node().
-- Leaves no replicated table behind.
--
\set VERBOSITY default

CREATE SCHEMA regress_tables;
SET search_path = regress_tables, public;

CREATE TABLE with_pk (id int PRIMARY KEY, name text, qty int, price numeric(10,2),
                      ratio float8, small smallint, big bigint, cash money, label varchar(10));
CREATE TABLE no_key (id int, name text);
CREATE TABLE unique_nullable (id int UNIQUE, name text);       -- a unique index, but of a nullable column
CREATE TABLE with_ri (code text NOT NULL, v int);
CREATE UNIQUE INDEX with_ri_code ON with_ri (code);
ALTER TABLE with_ri REPLICA IDENTITY USING INDEX with_ri_code;
CREATE TABLE pk_nothing (id int PRIMARY KEY);
ALTER TABLE pk_nothing REPLICA IDENTITY NOTHING;
CREATE TABLE pk_full (id int PRIMARY KEY, counter bigint, note text);
ALTER TABLE pk_full REPLICA IDENTITY FULL;
CREATE TABLE "Quoted ""Name""" (id int PRIMARY KEY, "Delta Col" int);
CREATE TABLE parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
CREATE UNLOGGED TABLE unlogged_t (id int PRIMARY KEY);
CREATE TEMP TABLE temp_t (id int PRIMARY KEY);
CREATE VIEW a_view AS SELECT * FROM with_pk;
CREATE MATERIALIZED VIEW a_matview AS SELECT 1 AS id;
CREATE SEQUENCE a_sequence;
CREATE TYPE a_type AS (x int);
CREATE FOREIGN DATA WRAPPER regress_concord_fdw;
CREATE SERVER regress_concord_server FOREIGN DATA WRAPPER regress_concord_fdw;
CREATE FOREIGN TABLE a_foreign_table (id int) SERVER regress_concord_server;

-- ---------------------------------------------------------------------------
-- add_table
-- ---------------------------------------------------------------------------

-- A table needs a primary key or a replica identity index.
SELECT concord.add_table('no_key');
SELECT concord.add_table('unique_nullable');
SELECT concord.add_table('pk_nothing');
-- Only ordinary, permanent tables outside the system and concord schemas.
SELECT concord.add_table('parted');
SELECT concord.add_table('unlogged_t');
SELECT concord.add_table('temp_t');
SELECT concord.add_table('a_view');
SELECT concord.add_table('a_matview');
SELECT concord.add_table('a_sequence');
SELECT concord.add_table('a_type');
SELECT concord.add_table('a_foreign_table');
SELECT concord.add_table('pg_catalog.pg_class');
SELECT concord.add_table('concord.node');
SELECT concord.add_table('concord.subscription');
SELECT concord.add_table('concord.replicated_table');
SELECT concord.add_table('concord.conflicts');
SELECT concord.add_table('concord.tombstone');
SELECT concord.add_table('does_not_exist');
-- Unknown policies are refused; 'custom' needs a resolver, so add_table refuses it.
SELECT concord.add_table('with_pk', 'lww');
SELECT concord.add_table('with_pk', '');
SELECT concord.add_table('with_pk', 'LAST_UPDATE_WINS');
SELECT concord.add_table('with_pk', 'custom');
SELECT concord.add_table('with_pk', NULL) IS NULL AS strict;
SELECT count(*) FROM concord.tables;

-- Accepted: a primary key (default policy), a partition, a replica identity
-- index, a quoted name, a primary key with REPLICA IDENTITY FULL, and every
-- non-custom policy.
SELECT concord.add_table('with_pk');
SELECT concord.add_table('parted_1', 'first_update_wins');
SELECT concord.add_table('with_ri', 'apply_remote');
SELECT concord.add_table('"Quoted ""Name"""', 'keep_local');
SELECT concord.add_table('pk_full', 'error');
SELECT relation, conflict_policy, resolver, delta_columns
  FROM concord.tables ORDER BY relation::text COLLATE "C";

-- Each table once.
SELECT concord.add_table('with_pk');
SELECT concord.add_table('regress_tables.with_pk', 'keep_local');
SELECT conflict_policy FROM concord.tables WHERE relation = 'with_pk'::regclass;

-- ---------------------------------------------------------------------------
-- set_conflict_policy
-- ---------------------------------------------------------------------------

SELECT concord.set_conflict_policy('with_pk', 'nonsense');
SELECT concord.set_conflict_policy('no_key', 'error');               -- not replicated
SELECT concord.set_conflict_policy(NULL, 'error');
SELECT concord.set_conflict_policy('with_pk', NULL);
SELECT concord.set_conflict_policy('with_pk', 'custom');             -- no resolver
SELECT concord.set_conflict_policy('with_pk', 'custom', NULL);

-- Resolvers: (local t, remote t, conflict_type text) RETURNS t, nothing else.
CREATE FUNCTION resolve_ok(local with_pk, remote with_pk, conflict_type text) RETURNS with_pk
    LANGUAGE sql AS 'SELECT remote';
CREATE FUNCTION resolve_two_args(local with_pk, remote with_pk) RETURNS with_pk
    LANGUAGE sql AS 'SELECT remote';
CREATE FUNCTION resolve_returns_text(local with_pk, remote with_pk, conflict_type text) RETURNS text
    LANGUAGE sql AS 'SELECT conflict_type';
CREATE FUNCTION resolve_other_table(local with_ri, remote with_ri, conflict_type text) RETURNS with_ri
    LANGUAGE sql AS 'SELECT remote';
CREATE FUNCTION resolve_varchar(local with_pk, remote with_pk, conflict_type varchar) RETURNS with_pk
    LANGUAGE sql AS 'SELECT remote';
CREATE FUNCTION resolve_setof(local with_pk, remote with_pk, conflict_type text) RETURNS SETOF with_pk
    LANGUAGE sql AS 'SELECT remote';
CREATE FUNCTION resolve_record(local with_pk, remote with_pk, conflict_type text) RETURNS record
    LANGUAGE sql AS 'SELECT remote';
CREATE PROCEDURE resolve_procedure(local with_pk, remote with_pk, conflict_type text)
    LANGUAGE sql AS 'SELECT 1';
CREATE AGGREGATE resolve_aggregate(with_pk) (SFUNC = resolve_two_args, STYPE = with_pk);

SELECT concord.set_conflict_policy('with_pk', 'custom', 'resolve_two_args(with_pk,with_pk)');
SELECT concord.set_conflict_policy('with_pk', 'custom', 'resolve_returns_text(with_pk,with_pk,text)');
SELECT concord.set_conflict_policy('with_pk', 'custom', 'resolve_other_table(with_ri,with_ri,text)');
SELECT concord.set_conflict_policy('with_pk', 'custom', 'resolve_varchar(with_pk,with_pk,varchar)');
SELECT concord.set_conflict_policy('with_pk', 'custom', 'resolve_setof(with_pk,with_pk,text)');
SELECT concord.set_conflict_policy('with_pk', 'custom', 'resolve_record(with_pk,with_pk,text)');
SELECT concord.set_conflict_policy('with_pk', 'custom', 'resolve_procedure(with_pk,with_pk,text)');
SELECT concord.set_conflict_policy('with_pk', 'custom', 'resolve_aggregate(with_pk)');
SELECT concord.set_conflict_policy('with_pk', 'custom', 'no_such_function(with_pk,with_pk,text)');
-- A resolver belongs to the custom policy only.
SELECT concord.set_conflict_policy('with_pk', 'keep_local', 'resolve_ok(with_pk,with_pk,text)');
-- Nothing above changed the table.
SELECT relation, conflict_policy, resolver FROM concord.tables WHERE relation = 'with_pk'::regclass;

-- Every policy, in turn; custom with a resolver of the right signature.
SELECT concord.set_conflict_policy('with_pk', 'custom', 'resolve_ok(with_pk,with_pk,text)');
SELECT relation, conflict_policy, resolver FROM concord.tables WHERE relation = 'with_pk'::regclass;
SELECT concord.set_conflict_policy('with_pk', 'custom', 'resolve_ok(with_pk,with_pk,text)');  -- again
SELECT concord.set_conflict_policy('with_pk', 'first_update_wins');      -- drops the resolver
SELECT relation, conflict_policy, resolver FROM concord.tables WHERE relation = 'with_pk'::regclass;
SELECT concord.set_conflict_policy('with_pk', 'apply_remote');
SELECT concord.set_conflict_policy('with_pk', 'keep_local');
SELECT concord.set_conflict_policy('with_pk', 'error');
SELECT concord.set_conflict_policy('with_pk', 'last_update_wins');
SELECT concord.set_conflict_policy('with_pk', 'custom', 'regress_tables.resolve_ok(regress_tables.with_pk,regress_tables.with_pk,text)');
SELECT relation, conflict_policy, resolver FROM concord.tables WHERE relation = 'with_pk'::regclass;
-- In a rolled-back transaction nothing changes.
BEGIN;
SELECT concord.set_conflict_policy('with_pk', 'keep_local');
ROLLBACK;
SELECT relation, conflict_policy, resolver FROM concord.tables WHERE relation = 'with_pk'::regclass;

-- A resolver in use never dangles: dropping it is refused, or the table
-- loses it; either way concord.tables names no missing function.
DO $$
BEGIN
    DROP FUNCTION resolve_ok(with_pk, with_pk, text);
EXCEPTION WHEN dependent_objects_still_exist THEN
    NULL;
END
$$;
SELECT t.relation, t.resolver
  FROM concord.tables t
 WHERE t.resolver IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.oid = t.resolver);

-- ---------------------------------------------------------------------------
-- set_delta_columns
-- ---------------------------------------------------------------------------

-- Only for replicated tables, only existing, numeric, non-key columns, and
-- only with REPLICA IDENTITY FULL (the delta needs the old row).
SELECT concord.set_delta_columns('no_key', '{id}');
SELECT concord.set_delta_columns('with_pk', '{qty}');                 -- not REPLICA IDENTITY FULL
SELECT concord.set_delta_columns('"Quoted ""Name"""', '{Delta Col}');
ALTER TABLE with_pk REPLICA IDENTITY FULL;
SELECT concord.set_delta_columns('with_pk', '{missing}');
SELECT concord.set_delta_columns('with_pk', '{QTY}');                 -- names are exact
SELECT concord.set_delta_columns('with_pk', '{name}');
SELECT concord.set_delta_columns('with_pk', '{label}');
SELECT concord.set_delta_columns('with_pk', '{qty,name}');
SELECT concord.set_delta_columns('with_pk', '{id}');                  -- the key
SELECT concord.set_delta_columns('with_pk', '{qty,id}');
SELECT concord.set_delta_columns('with_pk', '{ctid}');
SELECT concord.set_delta_columns('with_pk', '{qty,NULL}');
SELECT concord.set_delta_columns('with_pk', NULL) IS NULL AS strict;
SELECT concord.set_delta_columns('pk_full', '{id}');                   -- the key, under FULL from the start
SELECT concord.set_delta_columns('pk_full', '{note}');
SELECT relation, delta_columns FROM concord.tables
 WHERE delta_columns <> '{}' ORDER BY relation::text COLLATE "C";

-- Every numeric type is accepted.
SELECT concord.set_delta_columns('with_pk', '{qty,price,ratio,small,big,cash}');
SELECT concord.set_delta_columns('pk_full', '{counter}');
SELECT relation, delta_columns FROM concord.tables
 WHERE delta_columns <> '{}' ORDER BY relation::text COLLATE "C";
-- An empty list clears them; it needs no REPLICA IDENTITY FULL.
SELECT concord.set_delta_columns('with_pk', '{}');
ALTER TABLE with_pk REPLICA IDENTITY DEFAULT;
SELECT concord.set_delta_columns('with_pk', '{}');
SELECT relation, delta_columns FROM concord.tables
 WHERE delta_columns <> '{}' ORDER BY relation::text COLLATE "C";

-- ---------------------------------------------------------------------------
-- remove_table, and tables that disappear
-- ---------------------------------------------------------------------------

SELECT concord.remove_table('no_key');
SELECT concord.remove_table('a_view');
SELECT concord.remove_table(NULL) IS NULL AS strict;
SELECT concord.remove_table('with_ri');
SELECT concord.remove_table('with_ri');
SELECT relation FROM concord.tables ORDER BY relation::text COLLATE "C";
-- Removed tables can be added again.
SELECT concord.add_table('with_ri', 'keep_local');
SELECT relation, conflict_policy FROM concord.tables WHERE relation = 'with_ri'::regclass;

-- A dropped table is no longer listed (its OID could be reused by a new,
-- unrelated table): dropping it is refused, or concord forgets it.
CREATE TABLE drop_me (id int PRIMARY KEY);
SELECT concord.add_table('drop_me');
DO $$
BEGIN
    DROP TABLE drop_me;
EXCEPTION WHEN dependent_objects_still_exist THEN
    NULL;
END
$$;
SELECT count(*) AS dangling FROM concord.replicated_table t
 WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.relid);

-- Clean up.
DO $$
BEGIN
    PERFORM concord.remove_table(relid) FROM concord.replicated_table
      WHERE EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = relid);
END
$$;
RESET search_path;
SET client_min_messages = warning;   -- the list of dropped objects is not the point
DROP SCHEMA regress_tables CASCADE;
RESET client_min_messages;
DROP SERVER regress_concord_server;
DROP FOREIGN DATA WRAPPER regress_concord_fdw;
-- Rows of dropped tables would outlive this file (see above).
DELETE FROM concord.replicated_table;
SELECT count(*) FROM concord.tables;
