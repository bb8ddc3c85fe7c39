--
-- 03_subscription: concord.subscribe() (with copy_data and enabled),
-- unsubscribe(), pause(), resume(), skip_transaction(), wait_for_peers()
-- (with a list of peers), copy_table(), drop_node() of a provider, and the
-- views concord.peers and concord.copy_progress.
--
-- The peer is a second database of this same instance, with concord and a
-- node named "other".  Connection strings are built from this server's own
-- socket directory and port and never printed, only their redacted forms'
-- properties.
--
-- Leaves no node, subscription, slot or second database behind.
--
\set VERBOSITY default
\set regress_db :DBNAME
SELECT format('host=%s port=%s user=%s',
              split_part(current_setting('unix_socket_directories'), ',', 1),
              current_setting('port'), current_user) AS base_dsn \gset
SELECT :'base_dsn' || ' dbname=' || current_database() AS self_dsn,
       :'base_dsn' || ' dbname=regress_concord_other password=hunter2' AS other_dsn,
       :'base_dsn' || ' dbname=regress_concord_bare' AS bare_dsn,
       :'base_dsn' || ' dbname=postgres' AS plain_dsn \gset

-- ---------------------------------------------------------------------------
-- Before this database is a node
-- ---------------------------------------------------------------------------
SELECT concord.subscribe('other', :'other_dsn');
SELECT count(*) FROM concord.peers;

SELECT concord.create_node('n1', :'self_dsn') IS NOT NULL AS created;

-- ---------------------------------------------------------------------------
-- Errors that need no peer
-- ---------------------------------------------------------------------------
-- Not to oneself, by name ...
SELECT concord.subscribe('n1', :'other_dsn');
-- ... peer names follow the node name rules ...
SELECT concord.subscribe('Other', :'other_dsn');
SELECT concord.subscribe('', :'other_dsn');
SELECT concord.subscribe('other-node', :'other_dsn');
-- ... the DSN must parse, and a refused one never echoes its password ...
SELECT concord.subscribe('other', 'not a connection string');
SELECT concord.subscribe('other', 'host=localhost password=hunter2 bogus_option=1');
-- ... also with copy_data (checked before anything is copied).
SELECT concord.subscribe('n1', :'other_dsn', copy_data => true);
SELECT concord.subscribe('other', 'not a connection string', copy_data => true);
SELECT concord.subscribe(NULL, :'other_dsn') IS NULL AS strict;
SELECT concord.subscribe('other', NULL) IS NULL AS strict;
SELECT concord.subscribe('other', :'other_dsn', NULL) IS NULL AS strict;
SELECT concord.subscribe('other', :'other_dsn', false, NULL) IS NULL AS strict;

-- Unknown peers.
SELECT concord.unsubscribe('nobody');
SELECT concord.pause('nobody');
SELECT concord.resume('nobody');
SELECT concord.skip_transaction('nobody');

-- ---------------------------------------------------------------------------
-- Errors found on the peer; each names the peer, none shows a password
-- ---------------------------------------------------------------------------
-- Nobody listens there.
SELECT concord.subscribe('ghost', 'host=/nonexistent/concord port=5799 dbname=x password=hunter2');
SELECT concord.subscribe('ghost', 'host=/nonexistent/concord port=5799 dbname=x password=hunter2', copy_data => true);
-- A DSN that leads back to this very database, whatever name it is given.
SELECT concord.subscribe('mirror', :'self_dsn');
-- A database without concord.
SELECT concord.subscribe('plain', :'plain_dsn');
-- A database with concord but no node yet.
CREATE DATABASE regress_concord_bare;
\c regress_concord_bare
CREATE EXTENSION concord;
\c :regress_db
SELECT concord.subscribe('bare', :'bare_dsn');
SELECT concord.subscribe('bare', :'bare_dsn', copy_data => true);
DROP DATABASE regress_concord_bare WITH (FORCE);

-- The peer database: node "other", two replicated tables.  Its sessions
-- format values unlike this one's: a value must arrive as it was written,
-- whatever either side's DateStyle, IntervalStyle, extra_float_digits,
-- bytea_output or TimeZone (concord pins DateStyle, IntervalStyle and
-- extra_float_digits on its connections).  pg_regress exports PGDATESTYLE
-- (Postgres, MDY) and PGTZ to the server, and libpq passes them on to every
-- connection concord opens, overriding the peer database's own DateStyle; so
-- this database's workers parse dates DMY: a peer date that was not sent in
-- ISO would be read with day and month swapped.
ALTER DATABASE :"regress_db" SET DateStyle = 'SQL, DMY';
CREATE DATABASE regress_concord_other;
ALTER DATABASE regress_concord_other SET DateStyle = 'SQL, DMY';
ALTER DATABASE regress_concord_other SET IntervalStyle = 'sql_standard';
ALTER DATABASE regress_concord_other SET extra_float_digits = -3;
ALTER DATABASE regress_concord_other SET bytea_output = 'escape';
ALTER DATABASE regress_concord_other SET TimeZone = 'Asia/Tokyo';
\c regress_concord_other
CREATE EXTENSION concord;
SELECT concord.create_node('other', :'other_dsn') IS NOT NULL AS created;
CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric);
SELECT concord.add_table('accounts');
CREATE TABLE typed (id int PRIMARY KEY, day date, span interval, span2 interval, ratio float8, raw bytea,
                    at timestamptz);
SELECT concord.add_table('typed');
\c :regress_db
CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric);
SELECT concord.add_table('accounts');
CREATE TABLE typed (id int PRIMARY KEY, day date, span interval, span2 interval, ratio float8, raw bytea,
                    at timestamptz);
SELECT concord.add_table('typed');

-- The peer has another name than the one given.
SELECT concord.subscribe('wrong', :'other_dsn');
SELECT count(*) FROM concord.peers;

-- ---------------------------------------------------------------------------
-- A subscription
-- ---------------------------------------------------------------------------
SELECT concord.subscribe('other', :'other_dsn') IS NOT NULL AS subscribed;
SELECT concord.subscribe('other', :'other_dsn');       -- once per peer
-- The manager starts the worker soon after; wait (bounded) until it has.
DO $$
BEGIN
  FOR i IN 1..600 LOOP
    EXIT WHEN (SELECT status IN ('connecting', 'streaming') FROM concord.peers WHERE peer_name = 'other');
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
SELECT peer_name, link_name, sub_id IS NOT NULL AS has_id,
       peer_dsn LIKE '%password=''********''%' AS password_hidden,
       peer_dsn NOT LIKE '%hunter2%' AS no_password,
       status IN ('connecting', 'streaming') AS starting
  FROM concord.peers;
-- The slot lives on the peer.
\c regress_concord_other
SELECT slot_name, plugin, slot_type, database = current_database() AS here
  FROM pg_replication_slots WHERE slot_name LIKE 'concord%';
-- A change made at the peer arrives here.
INSERT INTO accounts VALUES (1, 'alice', 100), (2, 'bob', 50);
INSERT INTO typed VALUES (1, '2024-02-01', '-1 day +02:03:04', '-1 day -02:03:04', 0.1::float8 + 0.2::float8,
                          '\xdeadbeef00', '2024-02-01 12:00:00+00');
SELECT concord.wait_for_peers('60s');
-- ... also when naming the subscriber, but not a node that does not subscribe.
SELECT concord.wait_for_peers('60s', ARRAY['n1']);
SELECT concord.wait_for_peers('60s', ARRAY['n1', 'n1']);
SELECT concord.wait_for_peers('60s', ARRAY['n1', 'nobody']);
SELECT concord.wait_for_peers('60s', ARRAY['other']);
\c :regress_db
SELECT * FROM accounts ORDER BY id;
SELECT day = '2024-02-01' AS same_day,
       span = interval '-1 day +02:03:04' AS same_span,
       span2 = interval '-1 day -02:03:04' AS same_span2,
       ratio = 0.1::float8 + 0.2::float8 AS same_ratio,
       raw = '\xdeadbeef00'::bytea AS same_raw,
       at = '2024-02-01 12:00:00+00' AS same_at
  FROM typed;
-- This node has no subscriber: true at once.
SELECT concord.wait_for_peers();

-- pause takes effect before it returns; nothing is applied while paused.
SELECT concord.pause('other');
SELECT peer_name, status, worker_pid FROM concord.peers;
SELECT concord.pause('other');                         -- pausing twice is harmless
\c regress_concord_other
UPDATE accounts SET balance = balance + 1 WHERE id = 1;
-- The paused subscriber cannot confirm it: false at the timeout.
SELECT concord.wait_for_peers('200ms');
SELECT concord.wait_for_peers('200ms', ARRAY['n1']);
\c :regress_db
SELECT * FROM accounts ORDER BY id;
-- Nothing is failing, so there is nothing to skip.
SELECT concord.skip_transaction('other');

-- resume: the change kept by the peer arrives.
SELECT concord.resume('other');
SELECT concord.resume('other');                        -- resuming twice is harmless
SELECT peer_name, status IN ('connecting', 'streaming') AS running FROM concord.peers;
\c regress_concord_other
SELECT concord.wait_for_peers('60s');
\c :regress_db
SELECT * FROM accounts ORDER BY id;

-- A rolled-back unsubscribe changes nothing.
BEGIN;
SELECT concord.unsubscribe('other');
ROLLBACK;
SELECT peer_name FROM concord.peers;

-- unsubscribe drops the slot on the peer.
SELECT concord.unsubscribe('other');
SELECT count(*) FROM concord.peers;
SELECT concord.unsubscribe('other');
\c regress_concord_other
SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'concord%';
\c :regress_db

-- drop_node also ends subscriptions.
SELECT concord.subscribe('other', :'other_dsn') IS NOT NULL AS subscribed_again;
SELECT concord.drop_node();
SELECT count(*) FROM concord.peers;
SELECT count(*) FROM concord.nodes;
\c regress_concord_other
SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'concord%';
\c :regress_db

-- ---------------------------------------------------------------------------
-- enabled => false: a subscription created paused
-- ---------------------------------------------------------------------------
SELECT concord.create_node('n1', :'self_dsn') IS NOT NULL AS created;
SELECT concord.subscribe('other', :'other_dsn', enabled => false) IS NOT NULL AS subscribed;
SELECT peer_name, status, worker_pid FROM concord.peers;
\c regress_concord_other
SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'concord%';
UPDATE accounts SET balance = balance + 1 WHERE id = 2;
SELECT concord.wait_for_peers('200ms', ARRAY['n1']);
\c :regress_db
SELECT * FROM accounts ORDER BY id;
-- The peer kept the change for it.
SELECT concord.resume('other');
\c regress_concord_other
SELECT concord.wait_for_peers('60s', ARRAY['n1']);
\c :regress_db
SELECT * FROM accounts ORDER BY id;
SELECT concord.unsubscribe('other');

-- ---------------------------------------------------------------------------
-- copy_data => true: the peer's rows first (under the snapshot of the slot's
-- start), then its changes
-- ---------------------------------------------------------------------------
-- The local tables hold rows: refused, and nothing is left behind.
SELECT concord.subscribe('other', :'other_dsn', copy_data => true);
SELECT count(*) FROM concord.peers;
SELECT count(*) FROM concord.row_version;
\c regress_concord_other
SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'concord%';
-- Every table the peer replicates must exist here, with every replicated
-- column (it need not be replicated here).
CREATE TABLE only_there (id int PRIMARY KEY, v text, w int);
SELECT concord.add_table('only_there');
INSERT INTO only_there VALUES (1, 'x', 10), (2, 'y', 20);
\c :regress_db
TRUNCATE accounts, typed;
SELECT concord.subscribe('other', :'other_dsn', copy_data => true);
CREATE TABLE only_there (id int PRIMARY KEY, v text);
SELECT concord.subscribe('other', :'other_dsn', copy_data => true);
ALTER TABLE only_there ADD COLUMN w int, ADD COLUMN local_note text DEFAULT 'here';
SELECT count(*) FROM concord.peers;
\c regress_concord_other
SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'concord%';
\c :regress_db
-- Ordinary triggers do not fire for copied rows (nor for applied ones).
CREATE TABLE audit (what text);
CREATE FUNCTION audit_insert() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO audit VALUES (TG_TABLE_NAME || ' ' || NEW.id); RETURN NEW; END $$;
CREATE TRIGGER audit_accounts AFTER INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION audit_insert();
-- The copy reads values in this session: make it parse dates DMY as well.
SET DateStyle = 'SQL, DMY';
SELECT concord.subscribe('other', :'other_dsn', copy_data => true) IS NOT NULL AS subscribed;
RESET DateStyle;
SELECT * FROM accounts ORDER BY id;
SELECT day = '2024-02-01' AS same_day,
       span = interval '-1 day +02:03:04' AS same_span,
       span2 = interval '-1 day -02:03:04' AS same_span2,
       ratio = 0.1::float8 + 0.2::float8 AS same_ratio,
       raw = '\xdeadbeef00'::bytea AS same_raw,
       at = '2024-02-01 12:00:00+00' AS same_at
  FROM typed;
SELECT * FROM only_there ORDER BY id;
SELECT count(*) AS audited FROM audit;
-- Each copied row keeps the version it had on the peer.
SELECT relid::regclass AS relation, node, count(*) AS rows, count(commit_ts) AS with_commit_ts
  FROM concord.row_version GROUP BY 1, 2 ORDER BY relid::regclass::text COLLATE "C";
SELECT count(*) AS copies_running FROM concord.copy_progress;
SELECT peer_name, status IN ('connecting', 'streaming') AS running FROM concord.peers;
-- The peer's changes after the copy arrive; changing a copied row is no conflict.
\c regress_concord_other
UPDATE accounts SET balance = balance * 2 WHERE id = 1;
DELETE FROM accounts WHERE id = 2;
INSERT INTO accounts VALUES (3, 'carol', 7);
UPDATE only_there SET w = w + 1;
SELECT concord.wait_for_peers('60s', ARRAY['n1']);
\c :regress_db
SELECT * FROM accounts ORDER BY id;
SELECT * FROM only_there ORDER BY id;
SELECT count(*) AS conflicts FROM concord.conflicts;
SELECT count(*) AS audited FROM audit;

-- ---------------------------------------------------------------------------
-- copy_table: a table added to a running mesh
-- ---------------------------------------------------------------------------
\c regress_concord_other
CREATE TABLE late (id int PRIMARY KEY, v text);
INSERT INTO late VALUES (1, 'a'), (2, 'b'), (3, 'c');
SELECT concord.add_table('late');
\c :regress_db
CREATE TABLE late (id int PRIMARY KEY, v text);
CREATE TABLE here_only (id int PRIMARY KEY);
SELECT concord.add_table('here_only');
-- Refusals: a table not replicated here, an unknown peer, a table the peer
-- does not replicate (or does not have), a table that holds rows.
SELECT concord.copy_table('late', 'other');
SELECT concord.add_table('late');
SELECT concord.copy_table('late', 'nobody');
SELECT concord.copy_table('here_only', 'other');
SELECT concord.copy_table('accounts', 'other');
SELECT concord.copy_table('late', NULL) IS NULL AS strict;
SELECT concord.copy_table(NULL, 'other') IS NULL AS strict;
SELECT count(*) FROM late;
-- A rolled-back copy leaves nothing behind, and the peers go on.
BEGIN;
SELECT concord.copy_table('late', 'other');
SELECT count(*) FROM late;
ROLLBACK;
SELECT count(*) FROM late;
SELECT count(*) FROM concord.row_version WHERE relid = 'late'::regclass;
-- The copy.
SELECT concord.copy_table('late', 'other');
SELECT * FROM late ORDER BY id;
SELECT node, count(*) AS rows FROM concord.row_version WHERE relid = 'late'::regclass GROUP BY node;
\c regress_concord_other
INSERT INTO late VALUES (4, 'd');
UPDATE late SET v = 'B' WHERE id = 2;
UPDATE accounts SET owner = 'carol2' WHERE id = 3;
SELECT concord.wait_for_peers('60s', ARRAY['n1']);
\c :regress_db
SELECT * FROM late ORDER BY id;
SELECT * FROM accounts ORDER BY id;
SELECT count(*) AS conflicts FROM concord.conflicts;
SELECT peer_name, status IN ('connecting', 'streaming') AS running FROM concord.peers;

-- ---------------------------------------------------------------------------
-- This node as a provider: drop_node drops the slots its subscribers pull
-- from, when its transaction commits
-- ---------------------------------------------------------------------------
\c regress_concord_other
SELECT concord.subscribe('n1', :'self_dsn') IS NOT NULL AS subscribed;
\c :regress_db
SELECT slot_name, database = current_database() AS here
  FROM pg_replication_slots WHERE slot_name LIKE 'concord%' ORDER BY slot_name COLLATE "C";
INSERT INTO late VALUES (5, 'from n1');
SELECT concord.wait_for_peers('60s');
SELECT concord.wait_for_peers('60s', ARRAY['other']);
\c regress_concord_other
SELECT * FROM late WHERE id >= 5 ORDER BY id;
\c :regress_db
-- A rolled-back drop_node leaves everything in place ...
BEGIN;
SELECT concord.drop_node();
ROLLBACK;
SELECT node_name FROM concord.nodes;
SELECT peer_name FROM concord.peers;
SELECT slot_name, database = current_database() AS here
  FROM pg_replication_slots WHERE slot_name LIKE 'concord%' ORDER BY slot_name COLLATE "C";
-- ... and both directions still work.
INSERT INTO late VALUES (6, 'from n1 again');
SELECT concord.wait_for_peers('60s');
\c regress_concord_other
SELECT * FROM late WHERE id >= 5 ORDER BY id;
INSERT INTO late VALUES (7, 'from other');
SELECT concord.wait_for_peers('60s', ARRAY['n1']);
\c :regress_db
SELECT * FROM late WHERE id >= 5 ORDER BY id;
-- The committed drop_node drops both slots: its own here, its subscription's
-- on the peer.
SELECT concord.drop_node();
SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'concord%';
SELECT count(*) FROM concord.peers;
\c regress_concord_other
SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'concord%';
SELECT peer_name FROM concord.peers;
SELECT concord.unsubscribe('n1');
SELECT count(*) FROM concord.peers;
SELECT concord.drop_node();
\c :regress_db

-- Clean up: dropped tables are no longer replicated.
ALTER DATABASE :"regress_db" RESET DateStyle;
DROP TABLE accounts, typed, only_there, late, here_only, audit;
DROP FUNCTION audit_insert();
SELECT count(*) FROM concord.tables;
SELECT count(*) FROM concord.row_version;
DROP DATABASE regress_concord_other WITH (FORCE);
