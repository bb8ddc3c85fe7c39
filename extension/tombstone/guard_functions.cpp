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
 * so the guard is consistent with the rest of the statement.
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
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

#include "extension/bridge/pg_guard.hpp"

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
 * Looks up (relid, key) in a concord table through its primary key; returns
 * whether a row exists and, if xmin is valid, whether one with that xmin does.
 */
bool Probe(const char *table, const char *index, Oid relid, bytea *key, TransactionId xmin) {
	Oid nsp = get_namespace_oid("concord", false);
	Oid table_oid = get_relname_relid(table, nsp);
	Oid index_oid = get_relname_relid(index, nsp);
	if (!OidIsValid(table_oid) || !OidIsValid(index_oid))
		elog(ERROR, "concord: catalog table %s is missing", table);
	Relation rel = table_open(table_oid, AccessShareLock);
	ScanKeyData keys[2];
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_BYTEAEQ, PointerGetDatum(key));
	SysScanDesc scan = systable_beginscan(rel, index_oid, true, GetActiveSnapshot(), 2, keys);
	HeapTuple tuple = systable_getnext(scan);
	bool found = HeapTupleIsValid(tuple) &&
	             (!TransactionIdIsValid(xmin) || TransactionIdEquals(HeapTupleHeaderGetXmin(tuple->t_data), xmin));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

} // namespace

} // namespace concord::tombstone

/*
 * The apply fast path's guard, once per applied UPDATE/DELETE: true if xid
 * committed through replication origin `origin`.  Plain C and a boolean,
 * where pg_xact_commit_timestamp_origin() would build a record.
 */
Datum concord_written_through(PG_FUNCTION_ARGS) {
	TransactionId xid = DatumGetTransactionId(PG_GETARG_DATUM(0));
	Oid origin = PG_GETARG_OID(1);
	TimestampTz ts;
	RepOriginId writer;
	if (!TransactionIdIsNormal(xid) || !TransactionIdGetCommitTsData(xid, &ts, &writer))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(writer == origin);
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
