/*
 * unique_ghost.cpp — ghosts of unique values; see unique_ghost.hpp.
 */
#include "worker/conflict/unique_ghost.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

#include "extension/tombstone/tombstone.hpp"
#include "worker/apply/execute.hpp"
#include "worker/apply/plans.hpp"
#include "worker/apply/spi_session.hpp"

namespace concord::conflict_pg {

namespace {

SPIPlanPtr ghost_upsert = nullptr;
SPIPlanPtr ghost_lookup = nullptr;

/*
 * The encoded values of row in u's columns; nullptr when one is NULL and
 * the index does not treat NULLs as equal (such a row collides with none).
 */
bytea *IndexValue(const apply::UniqueIndex *u, const apply::TupleValues *row) {
	Datum *values = static_cast<Datum *>(palloc0(sizeof(Datum) * Max(u->ncols, 1)));
	bool *nulls = static_cast<bool *>(palloc0(sizeof(bool) * Max(u->ncols, 1)));
	for (int i = 0; i < u->ncols; i++) {
		int col = u->cols[i];
		nulls[i] = row->nulls[col] == 'n';
		if (nulls[i] && !u->nulls_not_distinct)
			return nullptr;
		values[i] = row->values[col];
	}
	return tombstone::BuildKey(u->ncols, u->send, values, nulls);
}

} // namespace

void RememberGhosts(const apply::LocalTarget *t, const apply::TupleValues *row, const Datum *key_values,
                    const conflict::Version &version) {
	if (ghost_upsert == nullptr) {
		Oid types[6] = {OIDOID, TEXTOID, BYTEAOID, BYTEAOID, TIMESTAMPTZOID, TEXTOID};
		/* A key that gave way twice with the same values keeps its newest version. */
		ghost_upsert = apply::PrepareKept(
		    "INSERT INTO concord.unique_ghost AS g (relid, index_columns, value, key, commit_ts, node) "
		    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (relid, index_columns, value, key) DO UPDATE "
		    "SET commit_ts = EXCLUDED.commit_ts, node = EXCLUDED.node WHERE g.commit_ts IS NULL OR "
		    "(EXCLUDED.commit_ts, EXCLUDED.node COLLATE \"C\") > (g.commit_ts, g.node COLLATE \"C\")",
		    6, types);
	}
	bytea *key = apply::TombstoneKey(t, key_values);
	char *node = pnstrdup(version.node.data(), version.node.size());
	for (int i = 0; i < t->nuniques; i++) {
		const apply::UniqueIndex *u = &t->uniques[i];
		bytea *value = IndexValue(u, row);
		if (value == nullptr)
			continue;
		Datum params[6] = {ObjectIdGetDatum(t->relid), CStringGetTextDatum(u->columns), PointerGetDatum(value),
		                   PointerGetDatum(key),       TimestampTzGetDatum(version.commit_ts),
		                   CStringGetTextDatum(node)};
		char nulls[7] = {' ', ' ', ' ', ' ', version.ts_known ? ' ' : 'n', ' ', '\0'};
		apply::ExecutePlan(ghost_upsert, params, nulls, 0, SPI_OK_INSERT, "remembering a row's unique values");
	}
}

conflict::Version NewestGhost(const apply::LocalTarget *t, const apply::UniqueIndex *u, const apply::TupleValues *row,
                              const Datum *key_values, char **node_store) {
	conflict::Version newest;
	bytea *value = IndexValue(u, row);
	if (value == nullptr)
		return newest;
	if (ghost_lookup == nullptr) {
		Oid types[4] = {OIDOID, TEXTOID, BYTEAOID, BYTEAOID};
		ghost_lookup = apply::PrepareKept("SELECT commit_ts, node FROM concord.unique_ghost WHERE relid = $1 AND "
		                                  "index_columns = $2 AND value = $3 AND key <> $4",
		                                  4, types);
	}
	Datum params[4] = {ObjectIdGetDatum(t->relid), CStringGetTextDatum(u->columns), PointerGetDatum(value),
	                   PointerGetDatum(apply::TombstoneKey(t, key_values))};
	apply::ExecutePlan(ghost_lookup, params, nullptr, 0, SPI_OK_SELECT, "looking up the ghosts of unique values");
	for (uint64 r = 0; r < SPI_processed; r++) {
		HeapTuple tuple = SPI_tuptable->vals[r];
		bool isnull;
		Datum ts = SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &isnull);
		conflict::Version v;
		v.exists = true;
		v.ts_known = !isnull;
		v.commit_ts = isnull ? 0 : DatumGetTimestampTz(ts);
		char *node = SPI_getvalue(tuple, SPI_tuptable->tupdesc, 2);
		v.node = node != nullptr ? node : "";
		if (!newest.exists || conflict::Newer(v, newest)) {
			*node_store = pstrdup(node != nullptr ? node : "");
			newest = v;
			newest.node = *node_store;
		}
	}
	SPI_freetuptable(SPI_tuptable);
	return newest;
}

} // namespace concord::conflict_pg
