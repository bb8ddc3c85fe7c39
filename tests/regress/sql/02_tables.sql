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

-- add_table installs two triggers: concord_tombstone on DELETE, ENABLE
-- ALWAYS (it fires for applied deletes too), and concord_tombstone_key on an
-- UPDATE OF the key columns, for local writes only (the apply worker applies
-- a key change as a delete and an insert).
SELECT t.tgrelid::regclass AS relation, t.tgname, t.tgenabled, pg_get_triggerdef(t.oid) AS definition
  FROM pg_trigger t
 WHERE t.tgname LIKE 'concord%'
 ORDER BY t.tgrelid::regclass::text COLLATE "C", t.tgname COLLATE "C";

-- A delete, and an update that moves a row to another key, leave a tombstone
-- of the old key; other updates do not.
INSERT INTO with_pk (id, name) VALUES (1, 'one');
UPDATE with_pk SET name = 'uno' WHERE id = 1;
SELECT count(*) AS tombstones FROM concord.tombstone WHERE relid = 'with_pk'::regclass;
UPDATE with_pk SET id = 2 WHERE id = 1;
SELECT count(*) AS tombstones FROM concord.tombstone WHERE relid = 'with_pk'::regclass;
DELETE FROM with_pk;
SELECT count(*) AS tombstones FROM concord.tombstone WHERE relid = 'with_pk'::regclass;
-- The same key deleted again keeps one tombstone.
INSERT INTO with_pk (id) VALUES (2);
DELETE FROM with_pk;
SELECT count(*) AS tombstones FROM concord.tombstone WHERE relid = 'with_pk'::regclass;
-- A replica identity index is the key too.
INSERT INTO with_ri VALUES ('a', 1);
UPDATE with_ri SET v = 2;
UPDATE with_ri SET code = 'b';
SELECT count(*) AS tombstones FROM concord.tombstone WHERE relid = 'with_ri'::regclass;
DELETE FROM with_ri;
SELECT count(*) AS tombstones FROM concord.tombstone WHERE relid = 'with_ri'::regclass;
-- The trigger function works only as concord installs it.
SELECT concord.tombstone_trigger();
CREATE TABLE trigger_misuse (id int PRIMARY KEY);
CREATE TRIGGER misuse BEFORE DELETE ON trigger_misuse FOR EACH ROW EXECUTE FUNCTION concord.tombstone_trigger();
CREATE TRIGGER misuse_insert AFTER INSERT ON trigger_misuse FOR EACH ROW EXECUTE FUNCTION concord.tombstone_trigger();
INSERT INTO trigger_misuse VALUES (1);
DROP TRIGGER misuse_insert ON trigger_misuse;
INSERT INTO trigger_misuse VALUES (1);
DELETE FROM trigger_misuse;
DROP TABLE trigger_misuse;

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

-- A resolver in use never dangles: dropping it is refused (event trigger
-- concord_sql_drop), also with CASCADE, also inside a larger statement.
DROP FUNCTION resolve_ok(with_pk, with_pk, text);
DROP FUNCTION resolve_ok(with_pk, with_pk, text) CASCADE;
DROP FUNCTION resolve_returns_text(with_pk, with_pk, text), resolve_ok(with_pk, with_pk, text);
SELECT relation, conflict_policy, resolver FROM concord.tables WHERE relation = 'with_pk'::regclass;
SELECT count(*) AS still_there FROM pg_proc WHERE proname IN ('resolve_ok', 'resolve_returns_text');
-- A function that resolves nothing (any more) can be dropped.
DROP FUNCTION resolve_varchar(with_pk, with_pk, varchar);

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
-- ... with its triggers and tombstones.
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'with_ri'::regclass AND tgname LIKE 'concord%';
SELECT count(*) AS tombstones FROM concord.tombstone WHERE relid = 'with_ri'::regclass;
DELETE FROM with_ri;
-- Removed tables can be added again.
SELECT concord.add_table('with_ri', 'keep_local');
SELECT relation, conflict_policy FROM concord.tables WHERE relation = 'with_ri'::regclass;

-- A dropped table is no longer listed (its OID could be reused by a new,
-- unrelated table): the event trigger concord_sql_drop forgets it, with its
-- tombstones and recorded row versions.
CREATE TABLE drop_me (id int PRIMARY KEY, v text);
SELECT concord.add_table('drop_me');
INSERT INTO drop_me VALUES (1, 'a'), (2, 'b');
DELETE FROM drop_me WHERE id = 1;
SELECT count(*) AS tombstones FROM concord.tombstone WHERE relid = 'drop_me'::regclass;
SELECT 'drop_me'::regclass::oid AS drop_me_oid \gset
INSERT INTO concord.row_version (relid, key, commit_ts, node) VALUES (:drop_me_oid, '\x01', now(), 'n9');
DROP TABLE drop_me;
SELECT count(*) AS listed FROM concord.replicated_table WHERE relid::oid = :drop_me_oid;
SELECT count(*) AS tombstones FROM concord.tombstone WHERE relid = :drop_me_oid;
SELECT count(*) AS row_versions FROM concord.row_version WHERE relid = :drop_me_oid;
-- A rolled-back DROP TABLE keeps the table replicated.
CREATE TABLE drop_me (id int PRIMARY KEY);
SELECT concord.add_table('drop_me');
BEGIN;
DROP TABLE drop_me;
SELECT count(*) FROM concord.tables WHERE relation::text = 'drop_me';
ROLLBACK;
SELECT relation, conflict_policy FROM concord.tables WHERE relation = 'drop_me'::regclass;
-- Dropping a column, an index or a trigger of a replicated table keeps it replicated.
ALTER TABLE drop_me ADD COLUMN extra int;
CREATE INDEX drop_me_extra ON drop_me (extra);
ALTER TABLE drop_me DROP COLUMN extra;
SELECT relation FROM concord.tables WHERE relation = 'drop_me'::regclass;
-- A table and its custom resolver dropped together (the resolver takes the
-- table's row type, so it goes with the table).
CREATE FUNCTION drop_me_resolver(local drop_me, remote drop_me, conflict_type text) RETURNS drop_me
    LANGUAGE sql AS 'SELECT remote';
SELECT concord.set_conflict_policy('drop_me', 'custom', 'drop_me_resolver(drop_me,drop_me,text)');
SET client_min_messages = warning;
DROP TABLE drop_me CASCADE;
RESET client_min_messages;
SELECT count(*) AS dangling FROM concord.replicated_table t
 WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.relid);
SELECT count(*) AS drop_me_resolver FROM pg_proc WHERE proname = 'drop_me_resolver';

-- A whole schema dropped: its replicated tables are forgotten, also those
-- with a custom resolver in the same schema.
CREATE SCHEMA regress_gone;
CREATE TABLE regress_gone.t1 (id int PRIMARY KEY);
CREATE TABLE regress_gone.t2 (id int PRIMARY KEY);
CREATE FUNCTION regress_gone.r2(local regress_gone.t2, remote regress_gone.t2, conflict_type text)
    RETURNS regress_gone.t2 LANGUAGE sql AS 'SELECT remote';
SELECT concord.add_table('regress_gone.t1');
SELECT concord.add_table('regress_gone.t2');
SELECT concord.set_conflict_policy('regress_gone.t2', 'custom', 'regress_gone.r2(regress_gone.t2,regress_gone.t2,text)');
SET client_min_messages = warning;
DROP SCHEMA regress_gone CASCADE;
RESET client_min_messages;
SELECT count(*) AS dangling FROM concord.replicated_table t
 WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.relid);

-- Clean up: the schema goes with its replicated tables; concord forgets them.
SELECT concord.set_conflict_policy('with_pk', 'last_update_wins');
DROP FUNCTION resolve_ok(with_pk, with_pk, text);    -- resolves nothing now
SELECT relation, conflict_policy FROM concord.tables ORDER BY relation::text COLLATE "C";
RESET search_path;
SET client_min_messages = warning;   -- the list of dropped objects is not the point
DROP SCHEMA regress_tables CASCADE;
RESET client_min_messages;
DROP SERVER regress_concord_server;
DROP FOREIGN DATA WRAPPER regress_concord_fdw;
SELECT count(*) FROM concord.tables;
SELECT count(*) FROM concord.tombstone;
