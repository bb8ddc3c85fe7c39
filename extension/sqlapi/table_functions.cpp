/*
 * table_functions.cpp — concord.add_table(), remove_table(),
 * set_conflict_policy() and set_delta_columns().
 *
 * Every change to concord.replicated_table is followed by a relcache
 * invalidation of the table, logged with this transaction: the output plugin
 * replays it during decoding and so starts (or stops) sending the table at
 * exactly this transaction's commit.
 */
extern "C" {
#include "postgres.h"

#include "access/sysattr.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
}

#include "extension/bridge/pg_guard.hpp"
#include "extension/catalog/catalog.hpp"
#include "extension/catalog/key_columns.hpp"
#include "extension/sqlapi/access.hpp"
#include "extension/sqlapi/resolver_check.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(concord_add_table);
PG_FUNCTION_INFO_V1(concord_remove_table);
PG_FUNCTION_INFO_V1(concord_set_conflict_policy);
PG_FUNCTION_INFO_V1(concord_set_delta_columns);
}

namespace concord::sqlapi {

namespace {

const char *const kPolicies[] = {"last_update_wins", "first_update_wins", "apply_remote", "keep_local", "error",
                                 "custom"};

void CheckPolicyName(const char *policy) {
	for (const char *known : kPolicies)
		if (strcmp(policy, known) == 0)
			return;
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("unknown conflict policy \"%s\"", policy),
	                errhint("Use one of last_update_wins, first_update_wins, apply_remote, keep_local, error, "
	                        "custom.")));
}

/* Raises unless the relation is a table concord can replicate. */
void CheckReplicable(Oid relid) {
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("relation with OID %u does not exist", relid)));
	Relation rel = table_open(relid, AccessShareLock);
	const char *name = RelationGetRelationName(rel);
	char relkind = rel->rd_rel->relkind;
	if (relkind == RELKIND_PARTITIONED_TABLE)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
		                errmsg("\"%s\" is a partitioned table", name),
		                errhint("Add its partitions: changes are replicated per partition.")));
	if (relkind != RELKIND_RELATION)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE), errmsg("\"%s\" is not a table", name)));
	if (rel->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
		                errmsg("\"%s\" is a temporary or unlogged table", name),
		                errdetail("Only permanent tables are written to the WAL that concord decodes.")));
	Oid nsp = RelationGetNamespace(rel);
	if (IsCatalogNamespace(nsp) || nsp == get_namespace_oid("concord", true))
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE), errmsg("\"%s\" is a system or concord table", name)));
	if (!OidIsValid(catalog::KeyIndex(rel)))
		ereport(ERROR, (errcode(ERRCODE_INVALID_TABLE_DEFINITION),
		                errmsg("table \"%s\" has no primary key or replica identity index", name),
		                errdetail("concord finds a replicated row on every node by its key."),
		                errhint("Add a primary key, or set REPLICA IDENTITY USING INDEX on a unique index of NOT NULL "
		                        "columns.")));
	table_close(rel, AccessShareLock);
}

bool IsReplicated(Oid relid) {
	catalog::TableInfo info;
	return catalog::LoadTable(relid, &info);
}

void RequireReplicated(Oid relid) {
	if (!IsReplicated(relid))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
		                errmsg("table \"%s\" is not replicated by concord", get_rel_name(relid)),
		                errhint("Call concord.add_table() first.")));
}

/* schema.table, quoted, of a relation. */
char *QualifiedRelationName(Oid relid) {
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
}

/* "k1", "k2" ... : the table's key columns, quoted. */
char *KeyColumnList(Oid relid) {
	Relation rel = table_open(relid, AccessShareLock);
	Bitmapset *key = catalog::KeyColumns(rel);
	StringInfoData buf;
	initStringInfo(&buf);
	int member = -1;
	while ((member = bms_next_member(key, member)) >= 0) {
		AttrNumber attnum = member + FirstLowInvalidHeapAttributeNumber;
		const char *col = quote_identifier(NameStr(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attname));
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", col);
	}
	table_close(rel, AccessShareLock);
	return buf.data;
}

void DropTombstoneTrigger(Oid relid) {
	char *name = QualifiedRelationName(relid);
	for (const char *trigger : {"concord_tombstone", "concord_tombstone_key"}) {
		/* Only existing ones: DROP TRIGGER IF EXISTS would chatter a NOTICE. */
		if (!OidIsValid(get_trigger_oid(relid, trigger, true)))
			continue;
		char *sql = psprintf("DROP TRIGGER %s ON %s", trigger, name);
		catalog::Write(sql, 0, nullptr, nullptr, nullptr, SPI_OK_UTILITY);
	}
}

/* 'c1', 'c2' ... : the delta column names as trigger arguments. */
char *TriggerArguments(ArrayType *delta_columns) {
	StringInfoData buf;
	initStringInfo(&buf);
	if (delta_columns == nullptr)
		return buf.data;
	Datum *elems;
	bool *nulls;
	int n;
	deconstruct_array(delta_columns, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", quote_literal_cstr(TextDatumGetCString(elems[i])));
	return buf.data;
}

/*
 * Installs the triggers that remember deleted keys.  On DELETE, ENABLE
 * ALWAYS: it fires for the apply worker's deletes too.  On an UPDATE OF the
 * key columns (the function records the old key only if it really changed):
 * local writes only — the apply worker turns a key change into a DELETE and
 * an INSERT itself, and "UPDATE OF" keeps the trigger out of every other
 * update entirely.  Both get the delta columns as arguments: the tombstone
 * keeps their values (see concord.tombstone).
 */
void InstallTombstoneTrigger(Oid relid, ArrayType *delta_columns) {
	char *name = QualifiedRelationName(relid);
	char *args = TriggerArguments(delta_columns);
	/* A schema restored from a member's pg_dump brings these triggers along: replace them. */
	DropTombstoneTrigger(relid);
	char *sql = psprintf("CREATE TRIGGER concord_tombstone AFTER DELETE ON %s FOR EACH ROW "
	                     "EXECUTE FUNCTION concord.tombstone_trigger(%s); "
	                     "ALTER TABLE %s ENABLE ALWAYS TRIGGER concord_tombstone; "
	                     "CREATE TRIGGER concord_tombstone_key AFTER UPDATE OF %s ON %s FOR EACH ROW "
	                     "EXECUTE FUNCTION concord.tombstone_trigger(%s)",
	                     name, args, name, KeyColumnList(relid), name, args);
	catalog::Write(sql, 0, nullptr, nullptr, nullptr, SPI_OK_UTILITY);
}


/* Writes to concord.replicated_table and tells decoding about it. */
void WriteTableRow(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expected,
                   Oid relid) {
	catalog::Write(sql, nargs, types, values, nulls, expected);
	CacheInvalidateRelcacheByRelid(relid);
}

Datum AddTable(FunctionCallInfo fcinfo) {
	RequireAdmin("concord.add_table");
	Oid relid = PG_GETARG_OID(0);
	char *policy = text_to_cstring(PG_GETARG_TEXT_PP(1));
	CheckPolicyName(policy);
	if (strcmp(policy, "custom") == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
		                errmsg("the custom policy needs a resolver function"),
		                errhint("Add the table with another policy, then call concord.set_conflict_policy(table, "
		                        "'custom', resolver).")));
	CheckReplicable(relid);
	if (IsReplicated(relid))
		ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
		                errmsg("table \"%s\" is already replicated by concord", get_rel_name(relid))));
	Oid types[2] = {OIDOID, TEXTOID};
	Datum values[2] = {ObjectIdGetDatum(relid), CStringGetTextDatum(policy)};
	WriteTableRow("INSERT INTO concord.replicated_table (relid, conflict_policy) VALUES ($1::oid::regclass, $2)", 2,
	              types, values, nullptr, SPI_OK_INSERT, relid);
	InstallTombstoneTrigger(relid, nullptr);
	PG_RETURN_VOID();
}

Datum RemoveTable(FunctionCallInfo fcinfo) {
	RequireAdmin("concord.remove_table");
	Oid relid = PG_GETARG_OID(0);
	RequireReplicated(relid);
	Oid types[1] = {OIDOID};
	Datum values[1] = {ObjectIdGetDatum(relid)};
	WriteTableRow("DELETE FROM concord.replicated_table WHERE relid = $1::oid::regclass", 1, types, values, nullptr,
	              SPI_OK_DELETE, relid);
	catalog::Write("DELETE FROM concord.tombstone WHERE relid = $1", 1, types, values, nullptr, SPI_OK_DELETE);
	catalog::Write("DELETE FROM concord.row_version WHERE relid = $1", 1, types, values, nullptr, SPI_OK_DELETE);
	catalog::Write("DELETE FROM concord.unique_ghost WHERE relid = $1", 1, types, values, nullptr, SPI_OK_DELETE);
	DropTombstoneTrigger(relid);
	PG_RETURN_VOID();
}

Datum SetConflictPolicy(FunctionCallInfo fcinfo) {
	RequireAdmin("concord.set_conflict_policy");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("relation and conflict_policy must not be null")));
	Oid relid = PG_GETARG_OID(0);
	char *policy = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Oid resolver = PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2);
	CheckPolicyName(policy);
	RequireReplicated(relid);
	bool custom = strcmp(policy, "custom") == 0;
	if (custom && !OidIsValid(resolver))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
		                errmsg("the custom policy needs a resolver function")));
	if (!custom && OidIsValid(resolver))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
		                errmsg("a resolver is only used with the custom policy")));
	if (custom)
		CheckResolverSignature(relid, resolver);

	Oid types[3] = {OIDOID, TEXTOID, OIDOID};
	Datum values[3] = {ObjectIdGetDatum(relid), CStringGetTextDatum(policy), ObjectIdGetDatum(resolver)};
	char nulls[4] = {' ', ' ', custom ? ' ' : 'n', '\0'};
	WriteTableRow("UPDATE concord.replicated_table SET conflict_policy = $2, resolver = $3::oid::regprocedure "
	              "WHERE relid = $1::oid::regclass",
	              3, types, values, nulls, SPI_OK_UPDATE, relid);
	PG_RETURN_VOID();
}

bool IsNumericType(Oid type) {
	switch (getBaseType(type)) {
	case INT2OID:
	case INT4OID:
	case INT8OID:
	case NUMERICOID:
	case FLOAT4OID:
	case FLOAT8OID:
	case MONEYOID:
		return true;
	default:
		return false;
	}
}

/* Raises unless every name is a numeric, non-key column of the table. */
void CheckDeltaColumns(Oid relid, ArrayType *columns) {
	Datum *elems;
	bool *nulls;
	int n;
	deconstruct_array(columns, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	Relation rel = table_open(relid, AccessShareLock);
	Bitmapset *key = catalog::KeyColumns(rel);
	for (int i = 0; i < n; i++) {
		if (nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("delta column names must not be null")));
		char *col = TextDatumGetCString(elems[i]);
		AttrNumber att = get_attnum(relid, col);
		if (att == InvalidAttrNumber)
			ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
			                errmsg("column \"%s\" of table \"%s\" does not exist", col, RelationGetRelationName(rel))));
		if (!IsNumericType(get_atttype(relid, att)))
			ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
			                errmsg("delta column \"%s\" is not numeric", col),
			                errdetail("Delta columns must be smallint, integer, bigint, numeric, real, double "
			                          "precision or money.")));
		if (bms_is_member(att - FirstLowInvalidHeapAttributeNumber, key))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			                errmsg("delta column \"%s\" is part of the table's key", col)));
	}
	bool full = rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL;
	const char *relname = pstrdup(RelationGetRelationName(rel));
	table_close(rel, AccessShareLock);
	if (n > 0 && !full)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		                errmsg("table \"%s\" needs REPLICA IDENTITY FULL for delta columns", relname),
		                errdetail("A delta is the new value minus the old one, and only REPLICA IDENTITY FULL "
		                          "writes the old row to the WAL."),
		                errhint("Run ALTER TABLE %s REPLICA IDENTITY FULL on every node.",
		                        QualifiedRelationName(relid))));
}

Datum SetDeltaColumns(FunctionCallInfo fcinfo) {
	RequireAdmin("concord.set_delta_columns");
	Oid relid = PG_GETARG_OID(0);
	ArrayType *columns = PG_GETARG_ARRAYTYPE_P(1);
	RequireReplicated(relid);
	CheckDeltaColumns(relid, columns);
	Oid types[2] = {OIDOID, TEXTARRAYOID};
	Datum values[2] = {ObjectIdGetDatum(relid), PointerGetDatum(columns)};
	WriteTableRow("UPDATE concord.replicated_table SET delta_columns = $2 WHERE relid = $1::oid::regclass", 2, types,
	              values, nullptr, SPI_OK_UPDATE, relid);
	InstallTombstoneTrigger(relid, columns);
	PG_RETURN_VOID();
}

} // namespace

} // namespace concord::sqlapi

using concord::pg::Entry;

Datum concord_add_table(PG_FUNCTION_ARGS) { return Entry([&] { return concord::sqlapi::AddTable(fcinfo); }); }
Datum concord_remove_table(PG_FUNCTION_ARGS) { return Entry([&] { return concord::sqlapi::RemoveTable(fcinfo); }); }
Datum concord_set_conflict_policy(PG_FUNCTION_ARGS) {
	return Entry([&] { return concord::sqlapi::SetConflictPolicy(fcinfo); });
}
Datum concord_set_delta_columns(PG_FUNCTION_ARGS) {
	return Entry([&] { return concord::sqlapi::SetDeltaColumns(fcinfo); });
}
