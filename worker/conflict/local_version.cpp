/*
 * local_version.cpp — row and tombstone versions from xmin; see local_version.hpp.
 */
#include "worker/conflict/local_version.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "replication/origin.h"
#include "utils/datum.h"
#include "utils/timestamp.h"
#include "utils/memutils.h"
}

#include "common/naming/names.hpp"
#include "common/sql/statements.hpp"
#include "extension/bridge/pg_guard.hpp"
#include "worker/apply/apply_state.hpp"
#include "worker/apply/plans.hpp"

namespace concord::conflict_pg {

using apply::state;

namespace {

constexpr int kOriginCacheSize = 256;
char *origin_names[kOriginCacheSize]; /* in state->cache_context */
SPIPlanPtr tombstone_lookup = nullptr;

/* Fills version from the columns (xmin, timestamp, roident) of an SPI row. */
void ReadVersion(HeapTuple tuple, TupleDesc desc, conflict::Version *v, char **node_store) {
	bool isnull;
	TransactionId xmin = DatumGetTransactionId(SPI_getbinval(tuple, desc, 1, &isnull));
	Datum ts = SPI_getbinval(tuple, desc, 2, &isnull);
	bool ts_null = isnull;
	Datum roident = SPI_getbinval(tuple, desc, 3, &isnull);
	bool origin_null = isnull;
	v->exists = true;
	v->in_current_xact = TransactionIdIsCurrentTransactionId(xmin);
	v->ts_known = !ts_null;
	v->commit_ts = ts_null ? 0 : DatumGetTimestampTz(ts);
	const char *node = v->in_current_xact ? state->peer_name
	                   : origin_null     ? ""
	                                     : OriginNodeName(static_cast<RepOriginId>(DatumGetObjectId(roident)));
	*node_store = pstrdup(node);
	v->node = *node_store;
}

void FetchRow(SPIPlanPtr plan, Datum *params, LocalRow *out) {
	out->exists = false;
	out->version = conflict::Version{};
	out->row = (Datum)0;
	out->origin_node = nullptr;
	int rc = SPI_execute_plan(plan, params, nullptr, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "concord: looking up the local row failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0) {
		SPI_freetuptable(SPI_tuptable);
		return;
	}
	HeapTuple tuple = SPI_tuptable->vals[0];
	TupleDesc desc = SPI_tuptable->tupdesc;
	ReadVersion(tuple, desc, &out->version, &out->origin_node);
	bool isnull;
	Datum row = SPI_getbinval(tuple, desc, 4, &isnull);
	/* Copy the composite into the per-message context; the tuple table goes now, not at commit. */
	out->row = datumCopy(row, false, -1);
	out->exists = true;
	SPI_freetuptable(SPI_tuptable);
}

} // namespace

const char *OriginNodeName(RepOriginId origin) {
	if (origin == InvalidRepOriginId)
		return state->node_name;
	if (origin < kOriginCacheSize && origin_names[origin] != nullptr)
		return origin_names[origin];
	char *roname = nullptr;
	const char *name = "";
	if (replorigin_by_oid(origin, true, &roname)) {
		char *provider = pg::ToPalloc(naming::ProviderOfLink(roname, state->node_name));
		/* A concord link names its provider; any other origin keeps its own name. */
		name = provider[0] != '\0' ? provider : roname;
	}
	char *copy = MemoryContextStrdup(state->cache_context, name);
	if (origin < kOriginCacheSize)
		origin_names[origin] = copy;
	return copy;
}

conflict::Version RemoteVersion() {
	conflict::Version v;
	v.exists = true;
	v.ts_known = true;
	v.commit_ts = state->remote_commit_time;
	v.node = state->peer_name;
	return v;
}

void LookupRow(apply::RemoteRelation *rel, const Datum *key_values, LocalRow *out) {
	FetchRow(apply::LookupPlan(rel), const_cast<Datum *>(key_values), out);
}

void LookupUniqueHolder(apply::RemoteRelation *rel, const apply::UniqueIndex *u, const Datum *index_values,
                        const Datum *key_values, LocalRow *out) {
	const apply::LocalTarget *t = &rel->target;
	Datum *params = static_cast<Datum *>(palloc(sizeof(Datum) * (u->ncols + t->nkeys)));
	memcpy(params, index_values, sizeof(Datum) * u->ncols);
	memcpy(params + u->ncols, key_values, sizeof(Datum) * t->nkeys);
	FetchRow(u->lookup, params, out);
}

conflict::Version LookupTombstone(Oid relid, bytea *key) {
	if (tombstone_lookup == nullptr) {
		Oid types[2] = {OIDOID, BYTEAOID};
		char *sql = pg::ToPalloc(sql::BuildTombstoneLookup());
		tombstone_lookup = apply::PrepareKept(sql, 2, types);
	}
	Datum params[2] = {ObjectIdGetDatum(relid), PointerGetDatum(key)};
	int rc = SPI_execute_plan(tombstone_lookup, params, nullptr, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "concord: looking up a tombstone failed: %s", SPI_result_code_string(rc));
	conflict::Version v;
	if (SPI_processed > 0) {
		char *node;
		ReadVersion(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, &v, &node);
	}
	SPI_freetuptable(SPI_tuptable);
	return v;
}

} // namespace concord::conflict_pg
