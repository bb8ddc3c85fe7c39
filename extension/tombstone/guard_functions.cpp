/*
 * guard_functions.cpp — the SQL functions the apply worker's guarded
 * statements call: concord.written_through(), concord.key_deleted() and
 * concord.version_recorded().
 *
 * Applied statements run as the target table's owner (see
 * worker/apply/run_as_owner.hpp), who has no right to read concord's
 * tables.  These functions read them on the statement's behalf — C code
 * reads without ACL checks — and answer only a yes/no about a table the
 * caller may read (SELECT is checked).  They use the statement's snapshot,
 * so the guard is consistent with the rest of the statement.  The guard's
 * logic itself (guard.hpp) is shared with the apply worker's direct row
 * path, which needs no SQL function.
 */
extern "C" {
#include "postgres.h"

#include "access/commit_ts.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "catalog/namespace.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

#include "extension/bridge/pg_guard.hpp"
#include "extension/shmem/writer_window.hpp"
#include "extension/tombstone/guard.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(concord_written_through);
PG_FUNCTION_INFO_V1(concord_key_deleted);
PG_FUNCTION_INFO_V1(concord_version_recorded);
}

namespace concord::tombstone {

namespace {

void RequireSelect(Oid relid) {
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
		                errmsg("permission denied for table with OID %u", relid)));
}

/*
 * OIDs of a concord table and its index, looked up once per process (these
 * functions run once per applied row).  A relcache invalidation of either
 * forgets them, so a recreated extension is found again.
 */
struct CachedCatalog {
	const char *table;
	Oid table_oid;
	Oid index_oid;
};
CachedCatalog cached_catalogs[2] = {{"tombstone", InvalidOid, InvalidOid}, {"row_version", InvalidOid, InvalidOid}};
bool callback_registered = false;

void ForgetCatalogs(Datum, Oid relid) {
	for (CachedCatalog &c : cached_catalogs)
		if (!OidIsValid(relid) || relid == c.table_oid || relid == c.index_oid)
			c.table_oid = c.index_oid = InvalidOid;
}

void LookupCatalogTable(const char *table, const char *index, Oid *table_oid, Oid *index_oid) {
	CachedCatalog *c = strcmp(table, "tombstone") == 0 ? &cached_catalogs[0] : &cached_catalogs[1];
	if (!OidIsValid(c->table_oid)) {
		if (!callback_registered) {
			CacheRegisterRelcacheCallback(ForgetCatalogs, (Datum)0);
			callback_registered = true;
		}
		Oid nsp = get_namespace_oid("concord", false);
		Oid t = get_relname_relid(table, nsp);
		Oid i = get_relname_relid(index, nsp);
		if (!OidIsValid(t) || !OidIsValid(i))
			elog(ERROR, "concord: catalog table %s is missing", table);
		c->table_oid = t;
		c->index_oid = i;
	}
	*table_oid = c->table_oid;
	*index_oid = c->index_oid;
}

/*
 * Looks up (relid, key) in a concord table through its primary key; returns
 * whether a row exists and, if xmin is valid, whether one with that xmin does.
 * With `found`, hands back a copy of the row found.
 */
bool Probe(const char *table, const char *index, Oid relid, bytea *key, TransactionId xmin,
           HeapTuple *found_tuple = nullptr, TupleDesc *found_desc = nullptr) {
	Oid table_oid, index_oid;
	LookupCatalogTable(table, index, &table_oid, &index_oid);
	Relation rel = table_open(table_oid, AccessShareLock);
	ScanKeyData keys[2];
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_BYTEAEQ, PointerGetDatum(key));
	SysScanDesc scan = systable_beginscan(rel, index_oid, true, GetActiveSnapshot(), 2, keys);
	HeapTuple tuple = systable_getnext(scan);
	bool found = HeapTupleIsValid(tuple) &&
	             (!TransactionIdIsValid(xmin) || TransactionIdEquals(HeapTupleHeaderGetXmin(tuple->t_data), xmin));
	if (found && found_tuple != nullptr) {
		*found_tuple = heap_copytuple(tuple);
		*found_desc = CreateTupleDescCopy(RelationGetDescr(rel));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

} // namespace

Writer LastWriter(TransactionId xid, RepOriginId origin, RepOriginId copy_origin) {
	/* The apply worker's own recent commits, without a commit-timestamp look-up (writer_window.hpp). */
	if (shmem::KnownWrittenThrough(xid, origin))
		return Writer::kPeer;
	TimestampTz ts;
	RepOriginId writer;
	if (!TransactionIdIsNormal(xid) || !TransactionIdGetCommitTsData(xid, &ts, &writer))
		return Writer::kOther;
	if (writer == origin)
		return Writer::kPeer;
	if (copy_origin != InvalidRepOriginId && writer == copy_origin)
		return Writer::kInitialCopy;
	return Writer::kOther;
}

bool CopyHoldsOlderVersion(Oid relid, bytea *key, TransactionId xid, const char *peer, TimestampTz commit_time) {
	HeapTuple version;
	TupleDesc desc;
	if (!Probe("row_version", "row_version_pkey", relid, key, xid, &version, &desc))
		return false;
	bool ts_null, node_null;
	Datum recorded_ts = heap_getattr(version, 3, desc, &ts_null);
	Datum recorded_node = heap_getattr(version, 4, desc, &node_null);
	return !ts_null && !node_null && DatumGetTimestampTz(recorded_ts) < commit_time &&
	       strcmp(TextDatumGetCString(recorded_node), peer) == 0;
}

} // namespace concord::tombstone

/*
 * The apply fast path's guard as SQL (see WrittenThrough in guard.hpp), for
 * the statements that still go through SPI.  Plain C and a boolean, where
 * pg_xact_commit_timestamp_origin() would build a record.
 */
Datum concord_written_through(PG_FUNCTION_ARGS) {
	return concord::pg::Entry([&] {
		Oid relid = PG_GETARG_OID(3);
		return BoolGetDatum(concord::tombstone::WrittenThrough(
		    DatumGetTransactionId(PG_GETARG_DATUM(0)), static_cast<RepOriginId>(PG_GETARG_OID(1)),
		    static_cast<RepOriginId>(PG_GETARG_OID(2)), relid, text_to_cstring(PG_GETARG_TEXT_PP(5)),
		    PG_GETARG_TIMESTAMPTZ(6), [&] {
			    concord::tombstone::RequireSelect(relid);
			    return PG_GETARG_BYTEA_PP(4);
		    }));
	});
}

/* True if the key of table relid has a tombstone (visible to the statement). */
Datum concord_key_deleted(PG_FUNCTION_ARGS) {
	return concord::pg::Entry([&] {
		Oid relid = PG_GETARG_OID(0);
		concord::tombstone::RequireSelect(relid);
		return BoolGetDatum(concord::tombstone::Probe("tombstone", "tombstone_pkey", relid, PG_GETARG_BYTEA_PP(1),
		                                              InvalidTransactionId));
	});
}

/* True if a version is recorded for the row of table relid with this key, written by xmin. */
Datum concord_version_recorded(PG_FUNCTION_ARGS) {
	return concord::pg::Entry([&] {
		Oid relid = PG_GETARG_OID(0);
		concord::tombstone::RequireSelect(relid);
		return BoolGetDatum(concord::tombstone::Probe("row_version", "row_version_pkey", relid, PG_GETARG_BYTEA_PP(1),
		                                              DatumGetTransactionId(PG_GETARG_DATUM(2))));
	});
}
