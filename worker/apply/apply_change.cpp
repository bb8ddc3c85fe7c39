/*
 * apply_change.cpp — INSERT, UPDATE, DELETE and TRUNCATE through prepared SPI plans.
 */
#include "worker/apply/apply_change.hpp"

extern "C" {
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/lsyscache.h"
}

#include <string_view>

#include "common/sql/statements.hpp"
#include "extension/bridge/pg_guard.hpp"
#include "worker/apply/apply_state.hpp"
#include "worker/apply/relation_map.hpp"
#include "worker/apply/run_as_owner.hpp"
#include "worker/apply/tuple_values.hpp"

namespace concord::apply {

namespace {

RemoteRelation *StartChange(protocol::Reader &r, const char *action, LocalTarget **target) {
	uint32 relid = r.GetRelid();
	CheckReader(r, action);
	RemoteRelation *rel = LookupRelation(relid);
	state->current_action = action;
	*target = ResolveTarget(rel);
	state->current_relation = (*target)->display_name;
	return rel;
}

void ExpectEnd(protocol::Reader &r, const char *what) {
	r.ExpectEnd();
	CheckReader(r, what);
}

/* Key values of a tuple, in key order, for WHERE clauses. */
void KeyValues(const LocalTarget *t, const TupleValues *tuple, Datum *values, char *nulls) {
	for (int k = 0; k < t->nkeys; k++) {
		int c = t->key_cols[k];
		values[k] = tuple->values[c];
		nulls[k] = tuple->nulls[c];
		if (tuple->nulls[c] == 'n')
			ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION),
			                errmsg("peer \"%s\" sent a NULL key column for table \"%s\"", state->peer_name,
			                       t->display_name)));
	}
}

} // namespace

void ApplyInsert(protocol::Reader &r) {
	LocalTarget *t;
	RemoteRelation *rel = StartChange(r, "INSERT", &t);
	TupleValues row;
	ReadTuple(r, rel, t, &row);
	ExpectEnd(r, "INSERT");
	if (row.any_unchanged)
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
		                errmsg("peer \"%s\" sent an INSERT with unchanged values", state->peer_name)));
	OwnerScope owner(t->owner);
	int rc = SPI_execute_plan(t->insert_plan, row.values, row.nulls, false, 0);
	owner.Restore();
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "concord: INSERT into \"%s\" failed: %s", t->display_name, SPI_result_code_string(rc));
}

void ApplyUpdate(protocol::Reader &r) {
	LocalTarget *t;
	RemoteRelation *rel = StartChange(r, "UPDATE", &t);
	protocol::OldTupleKind old_kind = r.GetOldTupleKind();
	CheckReader(r, "UPDATE");
	TupleValues old_row, new_row;
	bool have_old = old_kind != protocol::OldTupleKind::kNone;
	if (have_old)
		ReadTuple(r, rel, t, &old_row);
	ReadTuple(r, rel, t, &new_row);
	ExpectEnd(r, "UPDATE");

	SPIPlanPtr plan = UpdatePlanFor(rel, new_row.unchanged);
	int nargs = 0;
	Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * (t->ncols + t->nkeys)));
	char *nulls = static_cast<char *>(palloc(t->ncols + t->nkeys + 1));
	for (int c = 0; c < t->ncols; c++) {
		if (new_row.unchanged[c])
			continue;
		values[nargs] = new_row.values[c];
		nulls[nargs] = new_row.nulls[c];
		nargs++;
	}
	KeyValues(t, have_old ? &old_row : &new_row, values + nargs, nulls + nargs);

	OwnerScope owner(t->owner);
	int rc = SPI_execute_plan(plan, values, nulls, false, 0);
	owner.Restore();
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "concord: UPDATE of \"%s\" failed: %s", t->display_name, SPI_result_code_string(rc));
	if (SPI_processed == 0)
		ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND),
		                errmsg("row to update in table \"%s\" was not found (update_missing)", t->display_name)));
}

void ApplyDelete(protocol::Reader &r) {
	LocalTarget *t;
	RemoteRelation *rel = StartChange(r, "DELETE", &t);
	(void)r.GetOldTupleKind();
	CheckReader(r, "DELETE");
	TupleValues old_row;
	ReadTuple(r, rel, t, &old_row);
	ExpectEnd(r, "DELETE");

	Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * t->nkeys));
	char *nulls = static_cast<char *>(palloc(t->nkeys + 1));
	KeyValues(t, &old_row, values, nulls);
	OwnerScope owner(t->owner);
	int rc = SPI_execute_plan(t->delete_plan, values, nulls, false, 0);
	owner.Restore();
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "concord: DELETE from \"%s\" failed: %s", t->display_name, SPI_result_code_string(rc));
	if (SPI_processed == 0)
		ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND),
		                errmsg("row to delete in table \"%s\" was not found (delete_missing)", t->display_name)));
}

void ApplyTruncate(protocol::Reader &r) {
	protocol::TruncateHeader h;
	r.GetTruncateHeader(&h);
	CheckReader(r, "TRUNCATE");
	state->current_action = "TRUNCATE";
	auto *names = static_cast<std::string_view *>(palloc(sizeof(std::string_view) * Max(h.nrels, 1u)));
	Oid owner_oid = InvalidOid;
	bool single_owner = true;
	for (uint32 i = 0; i < h.nrels; i++) {
		uint32 relid = r.GetU32();
		CheckReader(r, "TRUNCATE");
		LocalTarget *t = ResolveTarget(LookupRelation(relid));
		names[i] = t->qualified_name;
		if (i == 0)
			owner_oid = t->owner;
		else if (t->owner != owner_oid)
			single_owner = false;
	}
	ExpectEnd(r, "TRUNCATE");
	if (h.nrels == 0)
		return;
	/*
	 * Tables with one owner are truncated together (as on the peer) with that
	 * owner's rights; mixed owners run as the extension's worker user, since no
	 * single owner may truncate them all.
	 */
	char *sql = pg::ToPalloc(sql::BuildTruncate({names, h.nrels}, (h.options & protocol::kTruncateCascade) != 0,
	                                            (h.options & protocol::kTruncateRestartIdentity) != 0));
	OwnerScope owner(single_owner ? owner_oid : GetUserId());
	int rc = SPI_execute(sql, false, 0);
	owner.Restore();
	if (rc != SPI_OK_UTILITY)
		elog(ERROR, "concord: TRUNCATE failed: %s", SPI_result_code_string(rc));
}

} // namespace concord::apply
