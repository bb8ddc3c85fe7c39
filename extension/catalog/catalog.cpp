/*
 * catalog.cpp — SPI access to concord.node, concord.subscription and
 * concord.replicated_table.
 */
#include "extension/catalog/catalog.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

namespace concord::catalog {

/*
 * Reads pass read_only = false to SPI: that takes a fresh snapshot after a
 * command-counter increment, so a function sees the catalog rows it wrote
 * a moment before (create_node reads back the node it inserted).
 */
namespace {

/* Copies column `col` of the current SPI row as a string in the upper context. */
char *SpiText(HeapTuple tuple, TupleDesc desc, int col) {
	char *value = SPI_getvalue(tuple, desc, col);
	return value != nullptr ? SpiStrdup(value) : nullptr;
}

Datum SpiDatum(HeapTuple tuple, TupleDesc desc, int col, bool *isnull) {
	return SPI_getbinval(tuple, desc, col, isnull);
}

void ConnectSpiRaw() {
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "concord: SPI_connect failed");
}

/*
 * Catalog access runs as the extension owner: the catalog tables grant
 * nothing to anybody else (they hold connection strings), yet members of
 * concord_admin configure through these functions.  If an error intervenes,
 * transaction abort restores the user.
 */
struct OwnerSession {
	Oid saved_user;
	int saved_context;
};

OwnerSession ConnectSpi() {
	OwnerSession session;
	Oid owner = ExtensionOwner();
	GetUserIdAndSecContext(&session.saved_user, &session.saved_context);
	SetUserIdAndSecContext(owner, session.saved_context | SECURITY_LOCAL_USERID_CHANGE);
	ConnectSpiRaw();
	return session;
}

void FinishSpi(const OwnerSession &session) {
	SPI_finish();
	SetUserIdAndSecContext(session.saved_user, session.saved_context);
}

constexpr const char *kSubscriptionColumns = "sub_id, peer_name, peer_dsn, link_name, enabled";

void FillSubscription(HeapTuple tuple, TupleDesc desc, SubscriptionInfo *out) {
	bool isnull;
	out->sub_id = DatumGetObjectId(SpiDatum(tuple, desc, 1, &isnull));
	out->peer_name = SpiText(tuple, desc, 2);
	out->peer_dsn = SpiText(tuple, desc, 3);
	out->link_name = SpiText(tuple, desc, 4);
	out->enabled = DatumGetBool(SpiDatum(tuple, desc, 5, &isnull));
}

bool LoadOneSubscription(const char *where, Oid argtype, Datum arg, SubscriptionInfo *out) {
	OwnerSession session = ConnectSpi();
	char *sql = psprintf("SELECT %s FROM concord.subscription WHERE %s", kSubscriptionColumns, where);
	Oid types[1] = {argtype};
	Datum values[1] = {arg};
	if (SPI_execute_with_args(sql, 1, types, values, nullptr, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "concord: reading concord.subscription failed");
	bool found = SPI_processed > 0;
	if (found)
		FillSubscription(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, out);
	FinishSpi(session);
	return found;
}


} // namespace

char *SpiStrdup(const char *s) {
	size_t len = strlen(s) + 1;
	char *copy = static_cast<char *>(SPI_palloc(len));
	memcpy(copy, s, len);
	return copy;
}

bool ExtensionInstalled() { return OidIsValid(get_extension_oid("concord", true)); }

bool LoadLocalNode(NodeInfo *out) {
	OwnerSession session = ConnectSpi();
	if (SPI_execute("SELECT node_id, node_name, dsn FROM concord.node", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "concord: reading concord.node failed");
	bool found = SPI_processed > 0;
	if (found) {
		HeapTuple tuple = SPI_tuptable->vals[0];
		TupleDesc desc = SPI_tuptable->tupdesc;
		bool isnull;
		out->node_id = DatumGetObjectId(SpiDatum(tuple, desc, 1, &isnull));
		out->node_name = SpiText(tuple, desc, 2);
		out->dsn = SpiText(tuple, desc, 3);
	}
	FinishSpi(session);
	return found;
}

void RequireLocalNode(NodeInfo *out) {
	if (!LoadLocalNode(out))
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		                errmsg("this database is not a concord node"),
		                errhint("Call concord.create_node(node_name, dsn) first.")));
}

bool LoadSubscriptionByName(const char *peer_name, SubscriptionInfo *out) {
	return LoadOneSubscription("peer_name = $1", TEXTOID, CStringGetTextDatum(peer_name), out);
}

bool LoadSubscriptionById(Oid sub_id, SubscriptionInfo *out) {
	return LoadOneSubscription("sub_id = $1", OIDOID, ObjectIdGetDatum(sub_id), out);
}

List *LoadSubscriptions() {
	MemoryContext caller = CurrentMemoryContext;
	OwnerSession session = ConnectSpi();
	char *sql = psprintf("SELECT %s FROM concord.subscription ORDER BY sub_id", kSubscriptionColumns);
	if (SPI_execute(sql, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "concord: reading concord.subscription failed");
	List *result = NIL;
	for (uint64 i = 0; i < SPI_processed; i++) {
		MemoryContext spi = MemoryContextSwitchTo(caller);
		auto *info = static_cast<SubscriptionInfo *>(palloc0(sizeof(SubscriptionInfo)));
		result = lappend(result, info);
		MemoryContextSwitchTo(spi);
		FillSubscription(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, info);
	}
	FinishSpi(session);
	return result;
}

bool LoadTable(Oid relid, TableInfo *out) {
	MemoryContext caller = CurrentMemoryContext;
	OwnerSession session = ConnectSpi();
	Oid types[1] = {OIDOID};
	Datum values[1] = {ObjectIdGetDatum(relid)};
	if (SPI_execute_with_args("SELECT conflict_policy, resolver::oid, delta_columns FROM concord.replicated_table "
	                          "WHERE relid = $1::oid::regclass",
	                          1, types, values, nullptr, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "concord: reading concord.replicated_table failed");
	bool found = SPI_processed > 0;
	if (found) {
		HeapTuple tuple = SPI_tuptable->vals[0];
		TupleDesc desc = SPI_tuptable->tupdesc;
		bool isnull;
		out->relid = relid;
		out->conflict_policy = SpiText(tuple, desc, 1);
		Datum resolver = SpiDatum(tuple, desc, 2, &isnull);
		out->resolver = isnull ? InvalidOid : DatumGetObjectId(resolver);
		out->delta_columns = NIL;
		Datum delta = SpiDatum(tuple, desc, 3, &isnull);
		if (!isnull) {
			Datum *elems;
			bool *elem_nulls;
			int nelems;
			MemoryContext spi = MemoryContextSwitchTo(caller);
			deconstruct_array(DatumGetArrayTypeP(delta), TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls,
			                  &nelems);
			for (int i = 0; i < nelems; i++)
				if (!elem_nulls[i])
					out->delta_columns = lappend(out->delta_columns, TextDatumGetCString(elems[i]));
			MemoryContextSwitchTo(spi);
		}
	}
	FinishSpi(session);
	return found;
}

Oid ExtensionOwner() {
	static Oid cached = InvalidOid;
	if (OidIsValid(cached))
		return cached;
	ConnectSpiRaw();
	if (SPI_execute("SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'concord'", true, 1) !=
	        SPI_OK_SELECT ||
	    SPI_processed != 1)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("extension \"concord\" is not installed")));
	bool isnull;
	cached = DatumGetObjectId(SpiDatum(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return cached;
}

uint64 Write(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expected) {
	OwnerSession session = ConnectSpi();
	int rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	if (rc != expected)
		elog(ERROR, "concord: catalog statement failed (%s): %s", SPI_result_code_string(rc), sql);
	uint64 processed = SPI_processed;
	FinishSpi(session);
	return processed;
}


} // namespace concord::catalog
