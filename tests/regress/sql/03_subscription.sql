--
-- 03_subscription: concord.subscribe(), unsubscribe(), pause(), resume(),
-- skip_transaction(), wait_for_peers() and the view concord.peers.
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
-- ... and copy_data is refused by this version.
SELECT concord.subscribe('other', :'other_dsn', copy_data => true);
SELECT concord.subscribe(NULL, :'other_dsn') IS NULL AS strict;
SELECT concord.subscribe('other', NULL) IS NULL AS strict;
SELECT concord.subscribe('other', :'other_dsn', NULL) IS NULL AS strict;

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
DROP DATABASE regress_concord_bare WITH (FORCE);

-- The peer database: node "other", two replicated tables.  Its sessions
-- format values unlike this one's: a value must arrive as it was written,
-- whatever either side's DateStyle, IntervalStyle, extra_float_digits,
-- bytea_output or TimeZone.  (pg_regress exports PGDATESTYLE and PGTZ to the
-- server, and libpq passes them on to every connection concord opens, so
-- here DateStyle and TimeZone mismatches are masked; the others are not.)
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
CREATE TABLE typed (id int PRIMARY KEY, day date, span interval, ratio float8, raw bytea, at timestamptz);
SELECT concord.add_table('typed');
\c :regress_db
CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric);
SELECT concord.add_table('accounts');
CREATE TABLE typed (id int PRIMARY KEY, day date, span interval, ratio float8, raw bytea, at timestamptz);
SELECT concord.add_table('typed');

-- The peer has another name than the one given.
SELECT concord.subscribe('wrong', :'other_dsn');
SELECT count(*) FROM concord.peers;

-- ---------------------------------------------------------------------------
-- A subscription
-- ---------------------------------------------------------------------------
SELECT concord.subscribe('other', :'other_dsn') IS NOT NULL AS subscribed;
SELECT concord.subscribe('other', :'other_dsn');       -- once per peer
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
INSERT INTO typed VALUES (1, '2024-02-01', '-1 day +02:03:04', 0.1::float8 + 0.2::float8,
                          '\xdeadbeef00', '2024-02-01 12:00:00+00');
SELECT concord.wait_for_peers('60s');
\c :regress_db
SELECT * FROM accounts ORDER BY id;
SELECT day = '2024-02-01' AS same_day,
       span = interval '-1 day +02:03:04' AS same_span,
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
SELECT concord.drop_node();
\c :regress_db

-- Clean up.
SELECT concord.remove_table('accounts');
SELECT concord.remove_table('typed');
DROP TABLE accounts, typed;
DROP DATABASE regress_concord_other WITH (FORCE);
