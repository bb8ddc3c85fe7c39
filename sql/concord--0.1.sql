-- concord--0.1.sql — catalog, functions and views of the concord extension.
--
-- Everything lives in schema "concord".  Catalog tables are written only by
-- concord's own functions (which switch to the extension owner to do so);
-- configuration functions are for superusers and members of concord_admin;
-- the monitoring views hide every connection string password.

\echo Use "CREATE EXTENSION concord" to load this file. \quit

-- The administrative role: members may change concord's configuration.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'concord_admin') THEN
        CREATE ROLE concord_admin NOLOGIN;
    END IF;
END
$$;

-- Every role may look names up in the schema: the apply worker's statements run
-- as each table's owner and call the guard functions below.  Everything in the
-- schema carries its own privileges (catalog tables: none for PUBLIC).
GRANT USAGE ON SCHEMA concord TO PUBLIC;

CREATE SEQUENCE concord.object_id_seq;

-- This database's identity in the mesh (at most one row).  Read by the output
-- plugin during decoding, hence a user catalog table.
CREATE TABLE concord.node (
    node_id    oid PRIMARY KEY DEFAULT nextval('concord.object_id_seq')::oid,
    node_name  text NOT NULL UNIQUE,
    dsn        text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
) WITH (user_catalog_table = true);
CREATE UNIQUE INDEX node_single_row ON concord.node ((true));

-- One row per peer this node applies from.
CREATE TABLE concord.subscription (
    sub_id      oid PRIMARY KEY DEFAULT nextval('concord.object_id_seq')::oid,
    peer_name   text NOT NULL UNIQUE,
    peer_dsn    text NOT NULL,
    link_name   text NOT NULL UNIQUE,   -- slot on the peer and origin here
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Replicated tables and their conflict handling.  Read during decoding.
CREATE TABLE concord.replicated_table (
    relid           regclass PRIMARY KEY,
    conflict_policy text NOT NULL DEFAULT 'last_update_wins'
        CHECK (conflict_policy IN ('last_update_wins', 'first_update_wins', 'apply_remote',
                                   'keep_local', 'error', 'custom')),
    resolver        regprocedure,
    delta_columns   text[] NOT NULL DEFAULT '{}',
    CHECK ((conflict_policy = 'custom') = (resolver IS NOT NULL))
) WITH (user_catalog_table = true);

-- Every conflict, whatever its resolution, written in the applying transaction.
CREATE TABLE concord.conflicts (
    conflict_id      bigserial PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT clock_timestamp(),
    relation         regclass,
    conflict_type    text NOT NULL,
    resolution       text NOT NULL,
    local_origin     text,
    remote_origin    text,
    local_commit_ts  timestamptz,
    remote_commit_ts timestamptz,
    local_tuple      jsonb,
    remote_tuple     jsonb,
    remote_lsn       pg_lsn
);
CREATE INDEX conflicts_at ON concord.conflicts (at);

-- Deleted keys of replicated tables: a delete is a write of "no row", and a
-- later-arriving older change must lose against it.  The key is the binary
-- (send) form of the key columns; the version of the delete is the row's own
-- xmin (its commit timestamp and replication origin), exactly as for live rows.
-- On tables with delta columns, counters holds the deleted row's delta column
-- values by column name (text as the trigger writes them, numbers once
-- merged), to which updates that lose to the delete add their increments: a
-- newer update that brings the row back starts from them (docs/conflicts.md).
-- Such a merge records the delete's version in concord.row_version, as it
-- does for a live row.  NULL: no row was deleted here (the delete arrived
-- before the row); nothing merges into it, and a row brought back takes the
-- update's values.
CREATE TABLE concord.tombstone (
    relid    oid NOT NULL,
    key      bytea NOT NULL,
    counters jsonb,
    PRIMARY KEY (relid, key)
);

-- Versions of rows that differ from what their xmin says: a row an initial
-- copy wrote keeps the version it had on the peer it came from, and a row
-- whose delta columns merged a losing remote change keeps the local version
-- that won.  An entry counts only while its own xmin equals the row's xmin
-- (both written by the same transaction); pruned like tombstones.
CREATE TABLE concord.row_version (
    relid     oid NOT NULL,
    key       bytea NOT NULL,
    commit_ts timestamptz,
    node      text NOT NULL,
    PRIMARY KEY (relid, key)
);

-- Values a row held in a unique index other than the key when it gave way
-- on such an index (deleted to make room for a newer row, or a remote write
-- that lost to one), with the version of the write that held them: a write
-- with the same values that is older and arrives later loses to them, as it
-- would have to the row had it arrived first.  index_columns names the
-- index by its columns' attnums ("2 3"); value is their binary send() forms
-- (NULL as length -1); key the row's tombstone key.  Keyed by digests of
-- value and key: those may be longer than an index entry can be.  Pruned
-- like tombstones.
CREATE TABLE concord.unique_ghost (
    relid         oid NOT NULL,
    index_columns text NOT NULL,
    value         bytea NOT NULL,
    key           bytea NOT NULL,
    commit_ts     timestamptz,
    node          text NOT NULL
);
CREATE UNIQUE INDEX unique_ghost_key ON concord.unique_ghost
    (relid, index_columns, pg_catalog.sha256(value), pg_catalog.sha256(key));

REVOKE ALL ON concord.node, concord.subscription, concord.replicated_table,
              concord.conflicts, concord.tombstone, concord.row_version, concord.unique_ghost,
              concord.object_id_seq FROM PUBLIC;
GRANT SELECT ON concord.conflicts TO concord_admin, pg_monitor;
GRANT SELECT ON concord.replicated_table TO concord_admin, pg_monitor;

-- ---------------------------------------------------------------------------
-- Node and membership
-- ---------------------------------------------------------------------------

CREATE FUNCTION concord.create_node(node_name text, dsn text) RETURNS oid
    AS 'MODULE_PATHNAME', 'concord_create_node' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION concord.create_node(text, text) IS
    'gives this database its identity in the mesh; dsn is how peers reach it';

CREATE FUNCTION concord.drop_node() RETURNS void
    AS 'MODULE_PATHNAME', 'concord_drop_node' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION concord.drop_node() IS
    'removes this node''s identity, its subscriptions and its slots';

CREATE FUNCTION concord.subscribe(peer_name text, peer_dsn text, copy_data boolean DEFAULT false,
                                  enabled boolean DEFAULT true)
    RETURNS oid
    AS 'MODULE_PATHNAME', 'concord_subscribe' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION concord.subscribe(text, text, boolean, boolean) IS
    'pulls the peer''s locally-originated changes of replicated tables and applies them here (enabled => false: created paused)';

CREATE FUNCTION concord.unsubscribe(peer_name text) RETURNS void
    AS 'MODULE_PATHNAME', 'concord_unsubscribe' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION concord.unsubscribe(text) IS
    'stops pulling from the peer and drops its slot there (if reachable)';

CREATE FUNCTION concord.pause(peer_name text) RETURNS void
    AS 'MODULE_PATHNAME', 'concord_pause' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION concord.pause(text) IS
    'stops applying from the peer before returning; nothing is lost';

CREATE FUNCTION concord.resume(peer_name text) RETURNS void
    AS 'MODULE_PATHNAME', 'concord_resume' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION concord.resume(text) IS
    'restarts applying from a paused peer';

CREATE FUNCTION concord.wait_for_peers(timeout interval DEFAULT '60s', peers text[] DEFAULT NULL)
    RETURNS boolean
    AS 'MODULE_PATHNAME', 'concord_wait_for_peers' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION concord.wait_for_peers(interval, text[]) IS
    'true once every subscriber of this node (or those named in peers) applied everything committed here before the call';

CREATE FUNCTION concord.join_mesh(node_name text, dsn text, via_dsn text, timeout interval DEFAULT '10min')
    RETURNS void
    AS 'MODULE_PATHNAME', 'concord_join_mesh' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION concord.join_mesh(text, text, text, interval) IS
    'makes this database a member of the mesh reachable through via_dsn: subscribes both ways, copies the data once, returns when caught up';

CREATE FUNCTION concord.leave_mesh(timeout interval DEFAULT '60s') RETURNS void
    AS 'MODULE_PATHNAME', 'concord_leave_mesh' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION concord.leave_mesh(interval) IS
    'removes this node from the mesh once every member has applied what it committed (at most timeout): every member stops pulling from it, it stops pulling from them, slots are dropped everywhere';

CREATE FUNCTION concord.copy_table(relation regclass, peer_name text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'concord_copy_table' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION concord.copy_table(regclass, text) IS
    'fills an empty replicated table with the peer''s current rows (for tables added to a running mesh)';

-- ---------------------------------------------------------------------------
-- Tables and conflict policies
-- ---------------------------------------------------------------------------

CREATE FUNCTION concord.add_table(relation regclass, conflict_policy text DEFAULT 'last_update_wins')
    RETURNS void
    AS 'MODULE_PATHNAME', 'concord_add_table' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION concord.add_table(regclass, text) IS
    'starts replicating the table (it needs a primary key or replica identity index)';

CREATE FUNCTION concord.set_conflict_policy(relation regclass, conflict_policy text,
                                            resolver regprocedure DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'concord_set_conflict_policy' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION concord.set_conflict_policy(regclass, text, regprocedure) IS
    'changes the table''s conflict policy for the next applied transaction';

CREATE FUNCTION concord.set_delta_columns(relation regclass, columns text[]) RETURNS void
    AS 'MODULE_PATHNAME', 'concord_set_delta_columns' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION concord.set_delta_columns(regclass, text[]) IS
    'numeric columns whose concurrent changes merge as deltas instead of overwriting';

CREATE FUNCTION concord.remove_table(relation regclass) RETURNS void
    AS 'MODULE_PATHNAME', 'concord_remove_table' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION concord.remove_table(regclass) IS
    'stops replicating the table';

CREATE FUNCTION concord.skip_transaction(peer_name text) RETURNS void
    AS 'MODULE_PATHNAME', 'concord_skip_transaction' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION concord.skip_transaction(text) IS
    'skips exactly the one remote transaction from the peer that is failing now, and records it';

CREATE FUNCTION concord.tombstone_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'concord_tombstone_trigger' LANGUAGE C;
COMMENT ON FUNCTION concord.tombstone_trigger() IS
    'records a deleted key of a replicated table (installed by add_table as ENABLE ALWAYS; its arguments '
    'name the delta columns whose values the tombstone keeps)';

-- Guards of the apply worker's statements, which run as the table's owner:
-- they answer yes/no about a table the caller may read, nothing more.
CREATE FUNCTION concord.written_through(xid xid, origin oid, copy_origin oid, relid oid, key bytea,
                                        peer text, commit_ts timestamptz) RETURNS boolean
    AS 'MODULE_PATHNAME', 'concord_written_through' LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION concord.written_through(xid, oid, oid, oid, bytea, text, timestamptz) IS
    'the apply fast path''s guard: true if the row written by xid was last written by the peer (through origin, or copied from it with an older version)';
CREATE FUNCTION concord.key_deleted(relid oid, key bytea) RETURNS boolean
    AS 'MODULE_PATHNAME', 'concord_key_deleted' LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION concord.key_deleted(oid, bytea) IS
    'true if the key of the table has a tombstone (requires SELECT on the table)';
CREATE FUNCTION concord.version_recorded(relid oid, key bytea, writer xid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'concord_version_recorded' LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION concord.version_recorded(oid, bytea, xid) IS
    'true if concord.row_version holds the version of the row with this key written by writer (requires SELECT on the table)';

CREATE FUNCTION concord.prune_conflicts(older_than interval) RETURNS bigint
    AS 'MODULE_PATHNAME', 'concord_prune_conflicts' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION concord.prune_conflicts(interval) IS
    'deletes conflict rows older than the given age; returns how many';

-- Keeps the catalog true when objects go away: a dropped table stops being
-- replicated (its OID could otherwise be reused by an unrelated table), and a
-- function still resolving conflicts for a table cannot be dropped.
CREATE FUNCTION concord.on_sql_drop() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    obj record;
    users text;
BEGIN
    -- DROP EXTENSION concord itself: nothing left to keep true.
    IF to_regclass('concord.replicated_table') IS NULL THEN
        RETURN;
    END IF;
    FOR obj IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
        IF obj.classid = 'pg_class'::regclass AND obj.objsubid = 0 THEN
            DELETE FROM concord.replicated_table WHERE relid::oid = obj.objid;
            DELETE FROM concord.tombstone WHERE relid = obj.objid;
            DELETE FROM concord.row_version WHERE relid = obj.objid;
            DELETE FROM concord.unique_ghost WHERE relid = obj.objid;
        ELSIF obj.classid = 'pg_proc'::regclass THEN
            SELECT string_agg(relid::text, ', ') INTO users
              FROM concord.replicated_table WHERE resolver::oid = obj.objid;
            IF users IS NOT NULL THEN
                RAISE EXCEPTION 'cannot drop function %: it resolves conflicts of %', obj.object_identity, users
                    USING ERRCODE = 'dependent_objects_still_exist',
                          HINT = 'Set another conflict policy for those tables first.';
            END IF;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION concord.on_sql_drop() IS
    'event trigger: forgets dropped replicated tables and refuses to drop a resolver in use';
CREATE EVENT TRIGGER concord_sql_drop ON sql_drop EXECUTE FUNCTION concord.on_sql_drop();

-- ---------------------------------------------------------------------------
-- Observability
-- ---------------------------------------------------------------------------

CREATE FUNCTION concord.peer_status(
    OUT sub_id oid, OUT status text, OUT worker_pid int,
    OUT received_lsn pg_lsn, OUT applied_lsn pg_lsn, OUT peer_wal_end pg_lsn,
    OUT last_error text, OUT last_error_at timestamptz, OUT failures int,
    OUT last_applied_at timestamptz)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'concord_peer_status' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION concord.peer_status() IS
    'live state of this database''s apply workers, from shared memory';

CREATE FUNCTION concord.copy_progress(
    OUT pid int, OUT peer_name text, OUT relation text, OUT tables_done int, OUT tables_total int,
    OUT rows bigint, OUT bytes bigint, OUT total_rows bigint, OUT total_bytes bigint, OUT started_at timestamptz)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'concord_copy_progress' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION concord.copy_progress() IS
    'initial copies running in this database: table being copied, rows and bytes so far';

CREATE FUNCTION concord.redact_dsn(dsn text) RETURNS text
    AS 'MODULE_PATHNAME', 'concord_redact_dsn' LANGUAGE C STRICT IMMUTABLE;
COMMENT ON FUNCTION concord.redact_dsn(text) IS
    'the connection string with every password replaced by ********';

CREATE VIEW concord.peers AS
SELECT s.peer_name,
       CASE WHEN NOT s.enabled THEN 'paused'
            ELSE coalesce(st.status, 'connecting') END AS status,
       st.received_lsn,
       st.applied_lsn,
       CASE WHEN st.peer_wal_end IS NULL OR st.applied_lsn IS NULL THEN NULL
            ELSE greatest(st.peer_wal_end - st.applied_lsn, 0)::bigint END AS lag_bytes,
       st.last_error,
       st.last_error_at,
       st.failures,
       st.last_applied_at,
       st.worker_pid,
       concord.redact_dsn(s.peer_dsn) AS peer_dsn,
       s.link_name,
       s.sub_id
  FROM concord.subscription s
  LEFT JOIN concord.peer_status() st USING (sub_id);
COMMENT ON VIEW concord.peers IS 'one row per peer this node applies from';

CREATE VIEW concord.tables AS
SELECT t.relid AS relation,
       t.conflict_policy,
       t.resolver,
       t.delta_columns
  FROM concord.replicated_table t;
COMMENT ON VIEW concord.tables IS 'replicated tables and their conflict handling';

CREATE VIEW concord.nodes AS
SELECT n.node_id, n.node_name, concord.redact_dsn(n.dsn) AS dsn, n.created_at
  FROM concord.node n;
COMMENT ON VIEW concord.nodes IS 'this database''s node identity, password hidden';

CREATE VIEW concord.copy_progress AS SELECT * FROM concord.copy_progress();
COMMENT ON VIEW concord.copy_progress IS 'initial copies in progress (subscribe with copy_data, join_mesh, copy_table)';

CREATE VIEW concord.conflict_stats AS
SELECT relation, conflict_type, resolution, count(*) AS count, max(at) AS last_at
  FROM concord.conflicts
 GROUP BY relation, conflict_type, resolution;
COMMENT ON VIEW concord.conflict_stats IS 'conflicts per table, type and resolution';

-- The views run with their owner's rights, so their readers need no access to
-- the catalog tables (which hold unredacted connection strings).
GRANT SELECT ON concord.peers, concord.tables, concord.nodes, concord.conflict_stats, concord.copy_progress
    TO concord_admin, pg_monitor;

-- ---------------------------------------------------------------------------
-- Debugging aids
-- ---------------------------------------------------------------------------

CREATE FUNCTION concord.describe_message(message bytea) RETURNS text
    AS 'MODULE_PATHNAME', 'concord_describe_message' LANGUAGE C STRICT IMMUTABLE;
COMMENT ON FUNCTION concord.describe_message(bytea) IS
    'renders the messages of one frame of concord''s output plugin as readable text, one per line';

-- ---------------------------------------------------------------------------
-- Privileges: configuration is for superusers and concord_admin.
-- ---------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
    concord.create_node(text, text), concord.drop_node(),
    concord.subscribe(text, text, boolean, boolean), concord.unsubscribe(text),
    concord.pause(text), concord.resume(text), concord.wait_for_peers(interval, text[]),
    concord.join_mesh(text, text, text, interval), concord.leave_mesh(interval), concord.copy_table(regclass, text),
    concord.copy_progress(),
    concord.add_table(regclass, text), concord.set_conflict_policy(regclass, text, regprocedure),
    concord.set_delta_columns(regclass, text[]), concord.remove_table(regclass),
    concord.skip_transaction(text), concord.peer_status(), concord.prune_conflicts(interval)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    concord.create_node(text, text), concord.drop_node(),
    concord.subscribe(text, text, boolean, boolean), concord.unsubscribe(text),
    concord.pause(text), concord.resume(text), concord.wait_for_peers(interval, text[]),
    concord.join_mesh(text, text, text, interval), concord.leave_mesh(interval), concord.copy_table(regclass, text),
    concord.add_table(regclass, text), concord.set_conflict_policy(regclass, text, regprocedure),
    concord.set_delta_columns(regclass, text[]), concord.remove_table(regclass),
    concord.skip_transaction(text), concord.prune_conflicts(interval)
    TO concord_admin;
GRANT EXECUTE ON FUNCTION concord.peer_status(), concord.copy_progress() TO concord_admin, pg_monitor;
