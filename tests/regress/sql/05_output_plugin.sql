--
-- 05_output_plugin: the "concord" logical decoding output plugin seen through
-- SQL, each message rendered by concord.describe_message().  The plugin
-- writes a small transaction as one frame (one row of the slot functions);
-- describe_message renders a frame one message per line, split into rows here.
--
-- Rendered messages carry no LSN, transaction id, OID of a user object or
-- timestamp; long values are shortened below so the output stays readable.
--
-- Leaves no node, table, slot or origin behind.
--
\set VERBOSITY default
SELECT concord.create_node('n1', 'dbname=concord') IS NOT NULL AS created;

CREATE TABLE items (id int PRIMARY KEY, "Quoted Col" text, tags text[], doc jsonb, raw bytea,
                    price numeric, flag boolean);
CREATE TABLE "Mixed Case" ("Key" text PRIMARY KEY, v int);
CREATE TABLE full_rows (id int PRIMARY KEY, v text, big text);
CREATE TABLE by_index (code text NOT NULL, v int);
CREATE UNIQUE INDEX by_index_code ON by_index (code);
ALTER TABLE by_index REPLICA IDENTITY USING INDEX by_index_code;
CREATE TABLE local_only (id int PRIMARY KEY, v text);
SELECT concord.add_table('items');
SELECT concord.add_table('"Mixed Case"');
SELECT concord.add_table('full_rows');
ALTER TABLE full_rows REPLICA IDENTITY FULL;
SELECT concord.add_table('by_index');

-- A few kilobytes that do not compress: stored out of line (TOAST).
CREATE FUNCTION big_value(seed int) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT string_agg(md5((seed * 1000 + i)::text), '') FROM generate_series(1, 200) i $$;

-- The changes of the slot since the last call, one message per row, shortened.
CREATE FUNCTION decoded(slot name) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT regexp_replace(line, '''[0-9a-f]{200,}''', '''<long>''', 'g')
      FROM pg_logical_slot_get_binary_changes(slot, NULL, NULL, 'proto_version', '1')
               WITH ORDINALITY AS frame(lsn, xid, data, frame_no),
           regexp_split_to_table(concord.describe_message(data), E'\n') WITH ORDINALITY AS m(line, line_no)
     -- the manager writes its clock into the WAL every 5 s: where a CLOCK lands is timing
     WHERE line NOT LIKE 'CLOCK%'
     ORDER BY frame_no, line_no
$$;

SELECT 'created' FROM pg_create_logical_replication_slot('regress_concord_slot', 'concord');

-- ---------------------------------------------------------------------------
-- INSERT, UPDATE (with and without a key change), DELETE; values of many types
-- ---------------------------------------------------------------------------
INSERT INTO items VALUES (1, 'it''s "quoted"', '{a,"b c",NULL}', '{"k": [1, null, "x"]}',
                          '\x00ff10', 1.50, true);
INSERT INTO items VALUES (2, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO items VALUES (3, '', '{}', '"just a string"', '\x', -0.0001, false);
UPDATE items SET price = 2 WHERE id = 1;
UPDATE items SET id = 20 WHERE id = 2;
DELETE FROM items WHERE id = 20;
-- peek shows the changes without consuming them; a second peek shows them again.
-- Each of the six transactions is one frame.
SELECT concord.describe_message(data)
  FROM pg_logical_slot_peek_binary_changes('regress_concord_slot', NULL, NULL, 'proto_version', '1');
SELECT count(*) FROM pg_logical_slot_peek_binary_changes('regress_concord_slot', NULL, NULL, 'proto_version', '1');
-- The protocol version may be left out (it defaults to the only one there is).
SELECT count(*) FROM pg_logical_slot_peek_binary_changes('regress_concord_slot', NULL, NULL);
SELECT * FROM decoded('regress_concord_slot');
SELECT count(*) FROM decoded('regress_concord_slot');

-- Several changes in one transaction: one BEGIN, one COMMIT.
BEGIN;
INSERT INTO "Mixed Case" VALUES ('a', 1);
INSERT INTO "Mixed Case" VALUES ('b', 2);
UPDATE "Mixed Case" SET v = v * 10;
DELETE FROM "Mixed Case" WHERE "Key" = 'a';
COMMIT;
SELECT * FROM decoded('regress_concord_slot');

-- A replica identity index; an update that changes the key sends the old key.
INSERT INTO by_index VALUES ('x', 1);
UPDATE by_index SET v = 2;
UPDATE by_index SET code = 'y';
DELETE FROM by_index;
SELECT * FROM decoded('regress_concord_slot');

-- REPLICA IDENTITY FULL sends the whole old row (still flagging the key).
-- An unchanged out-of-line value is not in the WAL of the new row.
INSERT INTO full_rows VALUES (1, 'a', big_value(1));
UPDATE full_rows SET v = 'b';
UPDATE full_rows SET big = big_value(2);
DELETE FROM full_rows;
SELECT * FROM decoded('regress_concord_slot');

-- The same without REPLICA IDENTITY FULL: the old row is not sent.
INSERT INTO items (id, "Quoted Col") VALUES (4, big_value(3));
UPDATE items SET price = 4 WHERE id = 4;
DELETE FROM items WHERE id = 4;
SELECT * FROM decoded('regress_concord_slot');

-- ---------------------------------------------------------------------------
-- TRUNCATE
-- ---------------------------------------------------------------------------
TRUNCATE items;
TRUNCATE items, "Mixed Case", local_only RESTART IDENTITY CASCADE;
TRUNCATE local_only;
SELECT * FROM decoded('regress_concord_slot');

-- ---------------------------------------------------------------------------
-- What is not sent
-- ---------------------------------------------------------------------------
-- Tables concord does not replicate; a transaction touching only them sends nothing.
INSERT INTO local_only VALUES (1, 'stays here');
UPDATE local_only SET v = 'still here';
DELETE FROM local_only;
SELECT count(*) FROM decoded('regress_concord_slot');
-- ... and in a mixed transaction only the replicated table's changes go out.
BEGIN;
INSERT INTO local_only VALUES (2, 'stays here');
INSERT INTO items (id) VALUES (5);
COMMIT;
SELECT * FROM decoded('regress_concord_slot');

-- Changes made under a replication origin came from a peer: never forwarded.
SELECT pg_replication_origin_create('regress_concord_origin') IS NOT NULL AS created;
SELECT pg_replication_origin_session_setup('regress_concord_origin');
INSERT INTO items (id) VALUES (6);
UPDATE items SET price = 6 WHERE id = 5;
SELECT pg_replication_origin_session_reset();
INSERT INTO items (id) VALUES (7);
SELECT * FROM decoded('regress_concord_slot');
SELECT pg_replication_origin_drop('regress_concord_origin');

-- A table is sent from the command that adds it on, and not after the
-- transaction that removes it.
BEGIN;
INSERT INTO local_only VALUES (3, 'before');
SELECT concord.add_table('local_only');
INSERT INTO local_only VALUES (4, 'after');
COMMIT;
INSERT INTO local_only VALUES (5, 'replicated now');
SELECT concord.remove_table('items');
INSERT INTO items (id) VALUES (8);
SELECT * FROM decoded('regress_concord_slot');
SELECT concord.remove_table('local_only');
SELECT concord.add_table('items');

-- Rolled-back transactions send nothing.
BEGIN;
INSERT INTO items (id) VALUES (9);
ROLLBACK;
SELECT count(*) FROM decoded('regress_concord_slot');

-- The BEGIN names the node the change originated on.
SELECT concord.drop_node();
SELECT concord.create_node('renamed', 'dbname=concord') IS NOT NULL AS created;
INSERT INTO items (id) VALUES (10);
SELECT * FROM decoded('regress_concord_slot');

-- ---------------------------------------------------------------------------
-- describe_message on malformed input
-- ---------------------------------------------------------------------------
-- A frame is a sequence of messages, each behind a 4-byte length.
SELECT concord.describe_message('\x');
SELECT concord.describe_message('\x5a');
SELECT concord.describe_message('\x000000015a');
SELECT concord.describe_message('\x0000000142');
SELECT concord.describe_message('\x00000009430000000000000001');
SELECT concord.describe_message('\x0000000a42');
SELECT concord.describe_message(NULL) IS NULL AS strict;

-- ---------------------------------------------------------------------------
-- Options: unknown ones and other protocol versions are refused, and the
-- session that asked goes on working.
-- ---------------------------------------------------------------------------
INSERT INTO items (id) VALUES (11);
SELECT count(*) FROM pg_logical_slot_peek_binary_changes('regress_concord_slot', NULL, NULL, 'proto_version', '2');
SELECT count(*) FROM pg_logical_slot_peek_binary_changes('regress_concord_slot', NULL, NULL, 'proto_version', '0');
SELECT count(*) FROM pg_logical_slot_peek_binary_changes('regress_concord_slot', NULL, NULL, 'proto_version', 'one');
SELECT count(*) FROM pg_logical_slot_peek_binary_changes('regress_concord_slot', NULL, NULL, 'no_such_option', '1');
-- A binary plugin cannot be read as text.
SELECT count(*) FROM pg_logical_slot_peek_changes('regress_concord_slot', NULL, NULL);
-- The refused calls consumed nothing.
SELECT * FROM decoded('regress_concord_slot');
SELECT 1 AS still_alive;

-- Clean up.
SELECT pg_drop_replication_slot('regress_concord_slot');
SELECT concord.remove_table(relation) FROM concord.tables ORDER BY relation::text COLLATE "C";
SELECT concord.drop_node();
DROP FUNCTION decoded(name);
DROP FUNCTION big_value(int);
DROP TABLE items, "Mixed Case", full_rows, by_index, local_only;
