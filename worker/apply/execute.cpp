/*
 * execute.cpp — binding change values to prepared plans; see execute.hpp.
 */
#include "worker/apply/execute.hpp"

extern "C" {
#include "executor/spi.h"
#include "replication/origin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
}

#include "extension/tombstone/tombstone.hpp"
#include "worker/apply/apply_state.hpp"
#include "worker/apply/direct_apply.hpp"
#include "worker/apply/plans.hpp"
#include "worker/apply/run_as_owner.hpp"
#include "worker/apply/spi_session.hpp"
#include "worker/conflict/local_version.hpp"
#include "extension/shmem/shared_state.hpp"
#include "common/sql/statements.hpp"
#include "worker/sync/initial_copy.hpp"

namespace concord::apply {

namespace {

/*
 * The copy origin, looked up once and again only after pg_replication_origin
 * changed: the guard asks for it on every row, and "there is none" (no
 * initial copy into this node yet) is the common answer to remember too.
 */
bool copy_origin_known = false;
RepOriginId copy_origin = InvalidRepOriginId;

void ForgetCopyOrigin(Datum, int, uint32) { copy_origin_known = false; }

} // namespace

RepOriginId CopyOrigin() {
	if (!copy_origin_known) {
		static bool registered = false;
		if (!registered) {
			CacheRegisterSyscacheCallback(REPLORIGNAME, ForgetCopyOrigin, (Datum)0);
			registered = true;
		}
		copy_origin = replorigin_by_name(sync::CopyOriginName(state->node_name), true);
		copy_origin_known = true;
	}
	return copy_origin;
}

namespace {

uint64 Run(const LocalTarget *t, SPIPlanPtr plan, Datum *values, const char *nulls, int expected, const char *what) {
	OwnerScope owner(t->owner);
	ExecutePlan(plan, values, nulls, 0, expected, what, t->display_name);
	owner.Restore();
	return SPI_processed;
}

/* The guard's values (see sql::kGuardParams), from values[n]; returns the new count. */
int AppendGuardValues(const LocalTarget *t, const Datum *key_values, Datum *values, char *nulls, int n) {
	values[n] = ObjectIdGetDatum(state->origin);
	nulls[n++] = ' ';
	values[n] = ObjectIdGetDatum(CopyOrigin());
	nulls[n++] = ' ';
	values[n] = PointerGetDatum(TombstoneKey(t, key_values));
	nulls[n++] = ' ';
	values[n] = state->peer_name_text;
	nulls[n++] = ' ';
	values[n] = TimestampTzGetDatum(state->remote_commit_time);
	nulls[n++] = ' ';
	return n;
}

} // namespace

Datum *KeyValues(const LocalTarget *t, const TupleValues *tuple) {
	Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * Max(t->nkeys, 1)));
	for (int k = 0; k < t->nkeys; k++) {
		int c = t->key_cols[k];
		if (tuple->nulls[c] == 'n')
			ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION),
			                errmsg("peer \"%s\" sent a NULL key column for table \"%s\"", state->peer_name,
			                       t->display_name)));
		values[k] = tuple->values[c];
	}
	return values;
}

bytea *TombstoneKey(const LocalTarget *t, const Datum *key_values) {
	return tombstone::BuildKey(t->nkeys, t->key_send, key_values);
}

bool MayHaveTombstones(LocalTarget *t, uint64 *epoch) {
	uint64 now = shmem::TombstoneEpoch(t->relid);
	*epoch = now;
	if (now == t->tombstone_epoch)
		return t->may_have_tombstones;
	/* Read the epoch first: a tombstone committed during the query bumps it again. */
	Datum params[1] = {ObjectIdGetDatum(t->relid)};
	static SPIPlanPtr plan = nullptr;
	if (plan == nullptr) {
		Oid types[1] = {OIDOID};
		plan = PrepareKept("SELECT EXISTS (SELECT 1 FROM concord.tombstone WHERE relid = $1)", 1, types);
	}
	ExecutePlan(plan, params, nullptr, 1, SPI_OK_SELECT, "looking for tombstones");
	bool isnull;
	t->may_have_tombstones = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	t->tombstone_epoch = now;
	return t->may_have_tombstones;
}

void RecheckTombstones(LocalTarget *t, uint64 epoch, TupleValues *rows, int nrows) {
	if (shmem::TombstoneEpoch(t->relid) == epoch)
		return;
	for (int i = 0; i < nrows; i++) {
		ConvertTuple(t, &rows[i]);
		if (conflict_pg::LookupTombstone(t, TombstoneKey(t, KeyValues(t, &rows[i]))).exists)
			ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			                errmsg("a key of table \"%s\" was deleted here while a change from peer \"%s\" "
			                       "inserted it",
			                       t->display_name, state->peer_name),
			                errdetail("The transaction is retried, and then resolved against the delete.")));
	}
}

uint64 ExecInsert(RemoteRelation *rel, const TupleValues *row, bool guarded) {
	LocalTarget *t = &rel->target;
	if (row->any_unchanged)
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
		                errmsg("cannot insert a row of \"%s\" from peer \"%s\": a TOASTed value was not sent",
		                       t->display_name, state->peer_name),
		                errhint("Set REPLICA IDENTITY FULL on the table on every node so updates carry whole rows.")));
	uint64 epoch = 0;
	bool tombstones = guarded && MayHaveTombstones(t, &epoch);
	/*
	 * Optimistic: with no tombstones to respect, a plain INSERT saves the
	 * extra index descent of ON CONFLICT.  A key that is taken after all
	 * fails the transaction with unique_violation; it is then retried at once
	 * in careful mode (apply_main.cpp), where every insert is checked.
	 */
	bool optimistic = guarded && !tombstones && !state->careful && t->nuniques == 0;
	if (optimistic) {
		guarded = false;
		state->optimistic_insert_done = true;
	}
	uint64 inserted;
	if (!guarded && UseDirectPath(t, CMD_INSERT)) {
		inserted = DirectInsert(rel, row);
	} else {
		Datum *values = row->values;
		char *nulls = row->nulls;
		if (tombstones) {
			values = static_cast<Datum *>(palloc(sizeof(Datum) * (t->ncols + 1)));
			nulls = static_cast<char *>(palloc(t->ncols + 2));
			memcpy(values, row->values, sizeof(Datum) * t->ncols);
			memcpy(nulls, row->nulls, t->ncols);
			values[t->ncols] = PointerGetDatum(TombstoneKey(t, KeyValues(t, row)));
			nulls[t->ncols] = ' ';
			nulls[t->ncols + 1] = '\0';
		}
		inserted = Run(t, InsertPlan(rel, guarded, tombstones), values, nulls, SPI_OK_INSERT, "INSERT");
	}
	if ((guarded || optimistic) && !tombstones && inserted > 0)
		RecheckTombstones(t, epoch, const_cast<TupleValues *>(row), 1);
	return inserted;
}

uint64 ExecUpdate(RemoteRelation *rel, const TupleValues *row, const Datum *key_values, const TupleValues *old_row,
                  bool guarded, bool delta_only) {
	LocalTarget *t = &rel->target;
	if (!delta_only && UseDirectPath(t, CMD_UPDATE))
		return DirectUpdate(rel, row, key_values, guarded);
	bool delta = t->has_delta && old_row != nullptr;
	SPIPlanPtr plan = UpdatePlanFor(rel, row->unchanged, guarded, delta, delta_only);
	int max_args = 2 * t->ncols + t->nkeys + sql::kGuardParams;
	Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * max_args));
	char *nulls = static_cast<char *>(palloc(max_args + 1));
	int n = 0;
	for (int c = 0; c < t->ncols; c++) {
		if (!UpdateWrites(rel, row->unchanged, c) || (delta_only && !t->is_delta[c]))
			continue;
		values[n] = row->values[c];
		nulls[n++] = row->nulls[c];
	}
	for (int k = 0; k < t->nkeys; k++) {
		values[n] = key_values[k];
		nulls[n++] = ' ';
	}
	if (guarded)
		n = AppendGuardValues(t, key_values, values, nulls, n);
	if (delta) {
		for (int c = 0; c < t->ncols; c++) {
			if (row->unchanged[c] || !t->is_delta[c] || rel->cols[c].is_key)
				continue;
			values[n] = old_row->values[c];
			nulls[n++] = old_row->nulls[c];
		}
	}
	nulls[n] = '\0';
	return Run(t, plan, values, nulls, SPI_OK_UPDATE, "UPDATE");
}

uint64 ExecDelete(RemoteRelation *rel, const Datum *key_values, bool guarded) {
	LocalTarget *t = &rel->target;
	if (UseDirectPath(t, CMD_DELETE))
		return DirectDelete(rel, key_values, guarded);
	SPIPlanPtr plan = DeletePlan(rel, guarded);
	Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * (t->nkeys + sql::kGuardParams)));
	char *nulls = static_cast<char *>(palloc(t->nkeys + sql::kGuardParams + 1));
	memcpy(values, key_values, sizeof(Datum) * t->nkeys);
	memset(nulls, ' ', t->nkeys);
	int n = t->nkeys;
	if (guarded)
		n = AppendGuardValues(t, key_values, values, nulls, n);
	nulls[n] = '\0';
	return Run(t, plan, values, nulls, SPI_OK_DELETE, "DELETE");
}

} // namespace concord::apply
