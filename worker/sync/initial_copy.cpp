/*
 * initial_copy.cpp — slot with exported snapshot, COPY of rows and of their
 * versions; see initial_copy.hpp.
 */
#include "worker/sync/initial_copy.hpp"

extern "C" {
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/copy.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "replication/origin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
}

#include <string_view>

#include "common/sql/copy_queries.hpp"
#include "extension/bridge/pg_guard.hpp"
#include "extension/catalog/catalog.hpp"
#include "extension/catalog/key_columns.hpp"
#include "extension/remote/remote.hpp"
#include "extension/shmem/shared_state.hpp"
#include "extension/sqlapi/pending.hpp"
#include "extension/tombstone/tombstone.hpp"
#include "worker/apply/run_as_owner.hpp"

namespace concord::sync {

namespace {

/* The COPY stream CopyFrom is reading (its callback takes no argument). */
struct CopyStream {
	PGconn *conn;
	const char *peer;
	char *pending;
	int pending_len;
	int pending_off;
	bool done;
	shmem::CopySlot *progress;
};
CopyStream *current = nullptr;

void CountProgress(shmem::CopySlot *progress, int bytes) {
	if (progress == nullptr)
		return;
	shmem::CountCopiedRow(progress, bytes);
}

int ReadCopyData(void *outbuf, int minread, int maxread) {
	CopyStream *s = current;
	int copied = 0;
	while (copied < minread) {
		if (s->pending_off < s->pending_len) {
			int n = Min(maxread - copied, s->pending_len - s->pending_off);
			memcpy(static_cast<char *>(outbuf) + copied, s->pending + s->pending_off, n);
			s->pending_off += n;
			copied += n;
			continue;
		}
		if (s->done)
			break;
		if (s->pending != nullptr) {
			PQfreemem(s->pending);
			s->pending = nullptr;
		}
		char *buf = nullptr;
		int len = PQgetCopyData(s->conn, &buf, 1);
		if (len == 0) {
			remote::RemoteWaitReadable(s->conn, 1000);
			if (PQconsumeInput(s->conn) == 0)
				remote::RaiseRemoteError(s->conn, "copying rows", s->peer);
			continue;
		}
		if (len == -1) {
			PGresult *res = PQgetResult(s->conn);
			bool ok = res != nullptr && PQresultStatus(res) == PGRES_COMMAND_OK;
			if (!ok)
				remote::RaiseRemoteError(s->conn, "copying rows", s->peer, res);
			PQclear(res);
			while ((res = PQgetResult(s->conn)) != nullptr)
				PQclear(res);
			s->done = true;
			break;
		}
		if (len < 0)
			remote::RaiseRemoteError(s->conn, "copying rows", s->peer);
		s->pending = buf;
		s->pending_len = len;
		s->pending_off = 0;
		CountProgress(s->progress, len);
	}
	return copied;
}

/* Streams `copy_query` (COPY ... TO STDOUT on the peer) into rel's columns. */
uint64 CopyInto(Relation rel, List *attnames, PGconn *conn, const char *copy_query, const char *peer,
                shmem::CopySlot *progress) {
	if (PQsendQuery(conn, copy_query) == 0)
		remote::RaiseRemoteError(conn, "starting a copy", peer);
	for (;;) {
		while (PQisBusy(conn)) {
			remote::RemoteWaitReadable(conn, 1000);
			if (PQconsumeInput(conn) == 0)
				remote::RaiseRemoteError(conn, "starting a copy", peer);
		}
		PGresult *res = PQgetResult(conn);
		if (res != nullptr && PQresultStatus(res) == PGRES_COPY_OUT) {
			PQclear(res);
			break;
		}
		remote::RaiseRemoteError(conn, "starting a copy", peer, res);
	}
	CopyStream stream{conn, peer, nullptr, 0, 0, false, progress};
	current = &stream;
	/* CopyFrom opens the relation through the range table, as COPY itself would. */
	ParseState *pstate = make_parsestate(nullptr);
	ParseNamespaceItem *nsitem = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, nullptr, false, false);
	addNSItemToQuery(pstate, nsitem, true, true, true);
	CopyFromState cstate = BeginCopyFrom(pstate, rel, nullptr, nullptr, false, ReadCopyData, attnames, NIL);
	uint64 rows = CopyFrom(cstate);
	EndCopyFrom(cstate);
	current = nullptr;
	if (stream.pending != nullptr)
		PQfreemem(stream.pending);
	return rows;
}

/* CopyInto one of concord's own tables. */
uint64 CopyIntoConcordTable(const char *table, List *attnames, PGconn *conn, const char *copy_query, const char *peer) {
	Relation rel = table_open(get_relname_relid(table, get_namespace_oid("concord", false)), RowExclusiveLock);
	uint64 rows = CopyInto(rel, attnames, conn, copy_query, peer, nullptr);
	table_close(rel, NoLock);
	return rows;
}

struct RemoteTable {
	char *nspname;
	char *relname;
	List *columns; /* of char * */
};

/* The peer's replicated tables (optionally one) with their replicated columns. */
List *ListPeerTables(PGconn *conn, const char *peer, const char *nspname, const char *relname) {
	const char *sql =
	    "SELECT n.nspname, c.relname, a.attname FROM concord.replicated_table r "
	    "JOIN pg_catalog.pg_class c ON c.oid = r.relid "
	    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	    "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
	    "WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
	    "AND ($1::text IS NULL OR (n.nspname = $1 AND c.relname = $2)) "
	    "ORDER BY n.nspname, c.relname, a.attnum";
	const char *params[2] = {nspname, relname};
	PGresult *res = remote::RemoteExecParams(conn, sql, 2, params, PGRES_TUPLES_OK, "listing replicated tables", peer);
	List *tables = NIL;
	RemoteTable *last = nullptr;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *nsp = PQgetvalue(res, i, 0);
		const char *rel = PQgetvalue(res, i, 1);
		if (last == nullptr || strcmp(last->nspname, nsp) != 0 || strcmp(last->relname, rel) != 0) {
			last = static_cast<RemoteTable *>(palloc0(sizeof(RemoteTable)));
			last->nspname = pstrdup(nsp);
			last->relname = pstrdup(rel);
			tables = lappend(tables, last);
		}
		last->columns = lappend(last->columns, pstrdup(PQgetvalue(res, i, 2)));
	}
	PQclear(res);
	return tables;
}

bool TableIsEmpty(const char *qualified) {
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "concord: SPI_connect failed");
	char *sql = psprintf("SELECT 1 FROM %s LIMIT 1", qualified);
	if (SPI_execute(sql, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "concord: checking %s failed", qualified);
	bool empty = SPI_processed == 0;
	SPI_finish();
	return empty;
}

sql::Names ToNames(List *strings) {
	auto *items = static_cast<std::string_view *>(palloc(sizeof(std::string_view) * Max(list_length(strings), 1)));
	size_t n = 0;
	ListCell *lc;
	foreach (lc, strings)
		items[n++] = static_cast<const char *>(lfirst(lc));
	return {items, n};
}

/* The tombstone key expression of row `alias` for the local table's key, evaluated on the peer. */
char *KeyExpression(Relation rel, const char *alias) {
	Bitmapset *key = catalog::KeyColumns(rel);
	List *names = NIL;
	List *sends = NIL;
	int member = -1;
	while ((member = bms_next_member(key, member)) >= 0) {
		AttrNumber attnum = member + FirstLowInvalidHeapAttributeNumber;
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
		Oid send;
		bool varlena;
		getTypeBinaryOutputInfo(att->atttypid, &send, &varlena);
		names = lappend(names, pstrdup(NameStr(att->attname)));
		sends = lappend(sends, quote_qualified_identifier(get_namespace_name(get_func_namespace(send)),
		                                                  get_func_name(send)));
	}
	return pg::ToPalloc([&] { return sql::BuildKeyExpression(alias, ToNames(names), ToNames(sends)); });
}

shmem::CopySlot *ClaimProgress(const char *peer, int tables) {
	if (shmem::state == nullptr)
		return nullptr;
	shmem::CopySlot *slot = nullptr;
	LWLockAcquire(&shmem::state->lock, LW_EXCLUSIVE);
	for (int i = 0; i < shmem::kMaxCopies && slot == nullptr; i++)
		if (!shmem::state->copies[i].in_use || shmem::state->copies[i].pid == MyProcPid)
			slot = &shmem::state->copies[i];
	if (slot != nullptr) {
		memset(slot, 0, sizeof(*slot));
		slot->in_use = true;
		slot->dboid = MyDatabaseId;
		slot->pid = MyProcPid;
		strlcpy(slot->peer, peer, sizeof(slot->peer));
		slot->tables_total = tables;
		slot->started_at = GetCurrentTimestamp();
	}
	LWLockRelease(&shmem::state->lock);
	return slot;
}

void ReleaseProgress(shmem::CopySlot *slot) {
	if (slot == nullptr)
		return;
	LWLockAcquire(&shmem::state->lock, LW_EXCLUSIVE);
	slot->in_use = false;
	LWLockRelease(&shmem::state->lock);
}

/*
 * Copies one table under the snapshot the data connection is in: rows as the
 * table owner, versions into concord.row_version.
 */
uint64 CopyTable(PGconn *data, const char *peer, RemoteTable *rt, shmem::CopySlot *progress) {
	Oid relid = RangeVarGetRelid(makeRangeVar(rt->nspname, rt->relname, -1), RowExclusiveLock, true);
	if (!OidIsValid(relid))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
		                errmsg("table \"%s.%s\" replicated by peer \"%s\" does not exist on this node", rt->nspname,
		                       rt->relname, peer),
		                errhint("Create every replicated table here (schema only) before copying.")));
	char *remote_name = quote_qualified_identifier(rt->nspname, rt->relname);
	if (!TableIsEmpty(remote_name))
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		                errmsg("table \"%s.%s\" already holds rows on this node", rt->nspname, rt->relname),
		                errdetail("An initial copy fills empty tables only."),
		                errhint("Empty the table (TRUNCATE) or subscribe with copy_data => false.")));
	if (progress != nullptr) {
		LWLockAcquire(&shmem::state->lock, LW_EXCLUSIVE);
		snprintf(progress->relation, sizeof(progress->relation), "%s.%s", rt->nspname, rt->relname);
		progress->rows = 0;
		progress->bytes = 0;
		LWLockRelease(&shmem::state->lock);
	}

	Relation rel = table_open(relid, RowExclusiveLock);
	List *attnames = NIL;
	ListCell *lc;
	foreach (lc, rt->columns) {
		const char *col = static_cast<const char *>(lfirst(lc));
		if (get_attnum(relid, col) == InvalidAttrNumber)
			ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
			                errmsg("table \"%s\" on this node is missing column \"%s\" replicated by peer \"%s\"",
			                       remote_name, col, peer)));
		attnames = lappend(attnames, makeString(pstrdup(col)));
	}
	char *rows_query = pg::ToPalloc([&] { return sql::BuildCopyRowsQuery(remote_name, ToNames(rt->columns)); });
	char *key_expr = KeyExpression(rel, "r");
	char *versions_query =
	    pg::ToPalloc([&] { return sql::BuildCopyVersionsQuery(remote_name, relid, key_expr, peer); });
	char *live_key_expr = KeyExpression(rel, "live");
	char *tombstones_query =
	    pg::ToPalloc([&] { return sql::BuildCopyTombstonesQuery(remote_name, relid, live_key_expr); });
	char *tombstone_versions_query =
	    pg::ToPalloc([&] { return sql::BuildCopyTombstoneVersionsQuery(remote_name, relid, live_key_expr, peer); });

	apply::OwnerScope owner(rel->rd_rel->relowner);
	uint64 rows = CopyInto(rel, attnames, data, rows_query, peer, progress);
	owner.Restore();
	table_close(rel, NoLock);

	/*
	 * The table was empty: versions and tombstones recorded here before
	 * describe nothing now; the peer's, copied under the same snapshot, take
	 * their place.  Its tombstones matter as much as its rows: without them a
	 * change older than a delete there would find no trace of the key here
	 * and bring the row back.
	 */
	Oid relid_types[1] = {OIDOID};
	Datum relid_values[1] = {ObjectIdGetDatum(relid)};
	catalog::Write("DELETE FROM concord.row_version WHERE relid = $1", 1, relid_types, relid_values, nullptr,
	               SPI_OK_DELETE);
	catalog::Write("DELETE FROM concord.tombstone WHERE relid = $1", 1, relid_types, relid_values, nullptr,
	               SPI_OK_DELETE);
	List *version_columns = list_make4(makeString(pstrdup("relid")), makeString(pstrdup("key")),
	                                   makeString(pstrdup("commit_ts")), makeString(pstrdup("node")));
	CopyIntoConcordTable("row_version", version_columns, data, versions_query, peer);
	tombstone::NoteVersionsRecorded(); /* a delete later in this transaction is not the copied version */
	List *tombstone_columns = list_make3(makeString(pstrdup("relid")), makeString(pstrdup("key")),
	                                     makeString(pstrdup("counters")));
	if (CopyIntoConcordTable("tombstone", tombstone_columns, data, tombstones_query, peer) > 0)
		tombstone::NoteTombstones(relid);
	CopyIntoConcordTable("row_version", version_columns, data, tombstone_versions_query, peer);

	if (progress != nullptr) {
		LWLockAcquire(&shmem::state->lock, LW_EXCLUSIVE);
		progress->tables_done++;
		LWLockRelease(&shmem::state->lock);
	}
	ereport(LOG, (errmsg("concord: copied %llu rows of table %s from peer \"%s\"",
	                     static_cast<unsigned long long>(rows), remote_name, peer)));
	return rows;
}

/*
 * Runs the copies of `tables` with replica-role triggers and the copy origin,
 * both scoped: the role by a GUC nest level, the origin until transaction end.
 */
uint64 CopyTables(PGconn *data, const char *peer, List *tables) {
	catalog::NodeInfo node;
	catalog::RequireLocalNode(&node);
	char *origin_name = CopyOriginName(node.node_name);
	RepOriginId origin = replorigin_by_name(origin_name, true);
	if (origin == InvalidRepOriginId)
		origin = replorigin_create(origin_name);
	if (replorigin_session_origin == InvalidRepOriginId) {
		replorigin_session_setup(origin);
		replorigin_session_origin = origin;
		/* The commit record must carry the origin; it is dropped when the transaction ends. */
		sqlapi::ResetSessionOriginAtEnd();
	} else if (replorigin_session_origin != origin) {
		ereport(ERROR, (errcode(ERRCODE_OBJECT_IN_USE),
		                errmsg("this session already replays a replication origin; cannot copy here")));
	}

	int nest = NewGUCNestLevel();
	(void)set_config_option("session_replication_role", "replica", PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true,
	                        0, false);
	shmem::CopySlot *volatile progress = ClaimProgress(peer, list_length(tables));
	volatile uint64 total = 0;
	PG_TRY();
	{
		ListCell *lc;
		foreach (lc, tables)
			total += CopyTable(data, peer, static_cast<RemoteTable *>(lfirst(lc)), progress);
	}
	PG_FINALLY();
	{
		ReleaseProgress(progress);
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nest);
	return total;
}

/* Opens a normal connection and a REPEATABLE READ transaction, on `snapshot` if given. */
PGconn *OpenSnapshotConnection(const char *dsn, const char *peer, const char *snapshot) {
	PGconn *conn = remote::RemoteConnect(dsn, false, "concord copy", peer);
	PG_TRY();
	{
		PGresult *res = remote::RemoteExec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK,
		                                   "starting the copy transaction", peer);
		PQclear(res);
		if (snapshot != nullptr) {
			char *cmd = psprintf("SET TRANSACTION SNAPSHOT %s", quote_literal_cstr(snapshot));
			res = remote::RemoteExec(conn, cmd, PGRES_COMMAND_OK, "importing the slot's snapshot", peer);
			PQclear(res);
		}
	}
	PG_CATCH();
	{
		remote::RemoteClose(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return conn;
}

} // namespace

char *CopyOriginName(const char *node_name) { return psprintf("concord-copy:%s", node_name); }

XLogRecPtr CreateSlotAndCopy(const char *dsn, const char *peer, const char *slot) {
	PGconn *repl = remote::RemoteConnect(dsn, true, "concord", peer);
	PGconn *data = nullptr;
	XLogRecPtr start = InvalidXLogRecPtr;
	PG_TRY();
	{
		char *cmd = psprintf("CREATE_REPLICATION_SLOT %s LOGICAL concord (SNAPSHOT 'export')", quote_identifier(slot));
		PGresult *res = remote::RemoteExec(repl, cmd, PGRES_TUPLES_OK, "creating the replication slot", peer);
		/* columns: slot_name, consistent_point, snapshot_name, output_plugin */
		start = DatumGetLSN(DirectFunctionCall1(pg_lsn_in, CStringGetDatum(PQgetvalue(res, 0, 1))));
		char *snapshot = pstrdup(PQgetvalue(res, 0, 2));
		PQclear(res);
		/* From here on the slot exists: drop it again if this transaction aborts. */
		sqlapi::DropRemoteSlotAtAbort(dsn, slot, peer);
		/* The snapshot lives as long as `repl` stays open and idle. */
		data = OpenSnapshotConnection(dsn, peer, snapshot);
		List *tables = ListPeerTables(data, peer, nullptr, nullptr);
		CopyTables(data, peer, tables);
	}
	PG_FINALLY();
	{
		remote::RemoteClose(data);
		remote::RemoteClose(repl);
	}
	PG_END_TRY();
	return start;
}

uint64 CopyOneTable(const char *dsn, const char *peer, Oid local_relid) {
	char *nspname = get_namespace_name(get_rel_namespace(local_relid));
	char *relname = get_rel_name(local_relid);
	PGconn *data = OpenSnapshotConnection(dsn, peer, nullptr);
	uint64 rows = 0;
	PG_TRY();
	{
		List *tables = ListPeerTables(data, peer, nspname, relname);
		if (tables == NIL)
			ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
			                errmsg("peer \"%s\" does not replicate table \"%s.%s\"", peer, nspname, relname),
			                errhint("Call concord.add_table() on the peer first.")));
		rows = CopyTables(data, peer, tables);
	}
	PG_FINALLY();
	{
		remote::RemoteClose(data);
	}
	PG_END_TRY();
	return rows;
}

} // namespace concord::sync
