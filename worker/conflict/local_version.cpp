/*
 * local_version.cpp — row and tombstone versions from xmin and recorded
 * versions; see local_version.hpp.
 */
#include "worker/conflict/local_version.hpp"

extern "C" {
#include "access/commit_ts.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "replication/origin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
}

#include "common/naming/names.hpp"
#include "common/sql/statements.hpp"
#include "extension/bridge/pg_guard.hpp"
#include "extension/tombstone/tombstone.hpp"
#include "worker/apply/apply_state.hpp"
#include "worker/apply/execute.hpp"
#include "worker/apply/plans.hpp"
#include "worker/apply/spi_session.hpp"
#include "worker/conflict/rows.hpp"
#include "worker/sync/initial_copy.hpp"

namespace concord::conflict_pg {

using apply::state;

namespace {

constexpr int kOriginCacheSize = 256;
char *origin_names[kOriginCacheSize]; /* in state->cache_context */
SPIPlanPtr tombstone_lookup = nullptr;
SPIPlanPtr tombstone_lookup_locked = nullptr;
SPIPlanPtr recorded_lookup = nullptr;
SPIPlanPtr recorded_upsert = nullptr;
bool copy_origin_known = false;
RepOriginId copy_origin = InvalidRepOriginId; /* valid only if copy_origin_known */

/* The origin initial copies into this node write under, if there is one. */
bool IsCopyOrigin(RepOriginId origin) {
	if (!copy_origin_known) {
		char *name = sync::CopyOriginName(state->node_name);
		copy_origin = replorigin_by_name(name, true);
		/* Not created yet: look again next time (a copy may create it later). */
		copy_origin_known = copy_origin != InvalidRepOriginId;
	}
	return copy_origin_known && origin == copy_origin;
}

struct RowIdentity {
	TransactionId xmin;
	RepOriginId origin;
};

/*
 * Fills version from the xmin (first column) of an SPI row: its commit
 * timestamp and origin as PostgreSQL recorded them.  Read here, from the
 * xmin of the very row version returned, so a row that FOR UPDATE re-read
 * after waiting for a concurrent writer gets that writer's version.
 */
RowIdentity ReadVersion(HeapTuple tuple, TupleDesc desc, conflict::Version *v, char **node_store) {
	bool isnull;
	TransactionId xmin = DatumGetTransactionId(SPI_getbinval(tuple, desc, 1, &isnull));
	TimestampTz ts = 0;
	RepOriginId origin = InvalidRepOriginId;
	bool known = TransactionIdIsNormal(xmin) && TransactionIdGetCommitTsData(xmin, &ts, &origin);
	v->exists = true;
	v->in_current_xact = TransactionIdIsCurrentTransactionId(xmin);
	v->ts_known = known;
	v->commit_ts = known ? ts : 0;
	const char *node = v->in_current_xact ? state->peer_name : known ? OriginNodeName(origin) : "";
	*node_store = pstrdup(node);
	v->node = *node_store;
	return {xmin, static_cast<RepOriginId>(known ? origin : InvalidRepOriginId)};
}

/* The version recorded for the row written by transaction xmin, if any. */
bool RecordedVersion(Oid relid, bytea *key, TransactionId xmin, conflict::Version *v, char **node_store) {
	if (recorded_lookup == nullptr) {
		Oid types[3] = {OIDOID, BYTEAOID, XIDOID};
		recorded_lookup = apply::PrepareKept(
		    "SELECT commit_ts, node FROM concord.row_version WHERE relid = $1 AND key = $2 AND xmin = $3", 3, types);
	}
	Datum params[3] = {ObjectIdGetDatum(relid), PointerGetDatum(key), TransactionIdGetDatum(xmin)};
	apply::ExecutePlan(recorded_lookup, params, nullptr, 1, SPI_OK_SELECT, "looking up a recorded row version");
	bool found = SPI_processed > 0;
	if (found) {
		bool isnull;
		Datum ts = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		v->ts_known = !isnull;
		v->commit_ts = isnull ? 0 : DatumGetTimestampTz(ts);
		char *node = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		*node_store = pstrdup(node != nullptr ? node : "");
		v->node = *node_store;
		v->in_current_xact = false;
		v->recorded = true;
	}
	SPI_freetuptable(SPI_tuptable);
	return found;
}

/*
 * The version recorded for the row or tombstone `key` written by id.xmin, if
 * any; otherwise a copied one (an initial copy wrote it) is older than any
 * known write.
 */
void UseRecordedVersion(Oid relid, bytea *key, RowIdentity id, conflict::Version *v, char **node_store) {
	if (RecordedVersion(relid, key, id.xmin, v, node_store))
		return;
	if (IsCopyOrigin(id.origin)) {
		v->ts_known = false;
		v->commit_ts = 0;
	}
}

/*
 * Copied rows and rows of delta tables may carry a recorded version; a copied
 * row without one is older than any known write.  On a delta table that
 * includes a row this very transaction wrote: a change that lost merged its
 * deltas into the local row and recorded the local version that won, and
 * the transaction's later changes of that row must meet that version, not
 * pass as the peer's own write.
 */
void ApplyRecordedVersion(const apply::LocalTarget *t, RowIdentity id, const Datum *key_values, LocalRow *row) {
	if (!row->exists || (row->version.in_current_xact && !t->has_delta))
		return;
	if (!t->has_delta && !IsCopyOrigin(id.origin))
		return;
	UseRecordedVersion(t->relid, apply::TombstoneKey(t, key_values), id, &row->version, &row->origin_node);
}

RowIdentity FetchRow(SPIPlanPtr plan, Datum *params, LocalRow *out) {
	out->exists = false;
	out->version = conflict::Version{};
	out->row = (Datum)0;
	out->origin_node = nullptr;
	apply::ExecutePlan(plan, params, nullptr, 1, SPI_OK_SELECT, "looking up the local row");
	if (SPI_processed == 0) {
		SPI_freetuptable(SPI_tuptable);
		return {InvalidTransactionId, InvalidRepOriginId};
	}
	HeapTuple tuple = SPI_tuptable->vals[0];
	TupleDesc desc = SPI_tuptable->tupdesc;
	RowIdentity id = ReadVersion(tuple, desc, &out->version, &out->origin_node);
	bool isnull;
	Datum row = SPI_getbinval(tuple, desc, 2, &isnull);
	/* Copy the composite into the per-message context; the tuple table goes now, not at commit. */
	out->row = datumCopy(row, false, -1);
	out->exists = true;
	SPI_freetuptable(SPI_tuptable);
	return id;
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
		char *provider = pg::ToPalloc([&] { return naming::ProviderOfLink(roname, state->node_name); });
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
	RowIdentity id = FetchRow(apply::LookupPlan(rel), const_cast<Datum *>(key_values), out);
	ApplyRecordedVersion(&rel->target, id, key_values, out);
}

void LookupUniqueHolder(apply::RemoteRelation *rel, apply::UniqueIndex *u, const apply::TupleValues *row,
                        const Datum *key_values, LocalRow *out) {
	const apply::LocalTarget *t = &rel->target;
	*out = LocalRow{};
	Datum *params = static_cast<Datum *>(palloc0(sizeof(Datum) * (u->ncols + t->nkeys)));
	bool *nulls = static_cast<bool *>(palloc0(sizeof(bool) * Max(u->ncols, 1)));
	if (!apply::UniqueIndexValues(u, row, params, nulls))
		return;
	static_assert(INDEX_MAX_KEYS <= 32, "null_columns has a bit per index column");
	uint32 null_columns = 0;
	for (int i = 0; i < u->ncols; i++)
		null_columns |= nulls[i] ? 1u << i : 0;
	memcpy(params + u->ncols, key_values, sizeof(Datum) * t->nkeys);
	RowIdentity id = FetchRow(apply::UniqueLookupPlan(rel, u, null_columns), params, out);
	if (out->exists) {
		apply::TupleValues holder;
		CompositeToValues(t, out->row, &holder);
		ApplyRecordedVersion(t, id, apply::KeyValues(t, &holder), out);
	}
}

conflict::Version LookupTombstone(const apply::LocalTarget *t, bytea *key, bool lock) {
	Oid relid = t->relid;
	SPIPlanPtr *plan = lock ? &tombstone_lookup_locked : &tombstone_lookup;
	if (*plan == nullptr) {
		Oid types[2] = {OIDOID, BYTEAOID};
		char *sql = pg::ToPalloc([&] { return sql::BuildTombstoneLookup(lock); });
		*plan = apply::PrepareKept(sql, 2, types);
	}
	Datum params[2] = {ObjectIdGetDatum(relid), PointerGetDatum(key)};
	apply::ExecutePlan(*plan, params, nullptr, 1, SPI_OK_SELECT, "looking up a tombstone");
	conflict::Version v;
	RowIdentity id{InvalidTransactionId, InvalidRepOriginId};
	char *node = nullptr;
	if (SPI_processed > 0)
		id = ReadVersion(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, &v, &node);
	SPI_freetuptable(SPI_tuptable);
	/*
	 * A tombstone an initial copy brought keeps the delete's version on the
	 * peer it came from; one whose counters a losing change merged into, the
	 * delete's version it had; that of a row deleted to make room on another
	 * unique index, the row's own version.
	 */
	if (v.exists && (t->has_delta || t->nuniques > 0 || IsCopyOrigin(id.origin)))
		UseRecordedVersion(relid, key, id, &v, &node);
	return v;
}

void RecordRowVersion(const apply::LocalTarget *t, const Datum *key_values, const conflict::Version &version) {
	tombstone::NoteVersionsRecorded();
	if (recorded_upsert == nullptr) {
		Oid types[4] = {OIDOID, BYTEAOID, TIMESTAMPTZOID, TEXTOID};
		/* DO UPDATE gives the entry this transaction's xmin, matching the row it describes. */
		recorded_upsert = apply::PrepareKept(
		    "INSERT INTO concord.row_version (relid, key, commit_ts, node) VALUES ($1, $2, $3, $4) "
		    "ON CONFLICT (relid, key) DO UPDATE SET commit_ts = EXCLUDED.commit_ts, node = EXCLUDED.node",
		    4, types);
	}
	char *node = pnstrdup(version.node.data(), version.node.size());
	Datum params[4] = {ObjectIdGetDatum(t->relid), PointerGetDatum(apply::TombstoneKey(t, key_values)),
	                   TimestampTzGetDatum(version.commit_ts), CStringGetTextDatum(node)};
	char nulls[5] = {' ', ' ', version.ts_known ? ' ' : 'n', ' ', '\0'};
	apply::ExecutePlan(recorded_upsert, params, nulls, 0, SPI_OK_INSERT, "recording a row version");
}

} // namespace concord::conflict_pg
