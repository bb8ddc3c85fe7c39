/*
 * apply_change.cpp — INSERT, UPDATE, DELETE and TRUNCATE of one remote change.
 *
 * Fast path first: one guarded statement that changes the row only when no
 * conflict is possible (insert into a free, never-deleted key; update or
 * delete of a row this same peer wrote last).  When it reports no row — or
 * the table has other unique indexes to check — the conflict slow path
 * (worker/conflict/resolve) looks, decides and records.
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
#include "worker/apply/execute.hpp"
#include "worker/apply/insert_batch.hpp"
#include "worker/apply/relation_map.hpp"
#include "worker/apply/run_as_owner.hpp"
#include "worker/apply/spi_session.hpp"
#include "worker/apply/tuple_values.hpp"
#include "worker/conflict/resolve.hpp"

namespace concord::apply {

namespace {

using conflict::Operation;

RemoteRelation *StartChange(protocol::Reader &r, const char *action, LocalTarget **target) {
	uint32 relid = r.GetRelid();
	CheckReader(r, action);
	RemoteRelation *rel = LookupRelation(relid);
	state->current_action = action;
	state->current_relation = rel->display_name; /* named even if resolving the local table fails */
	*target = ResolveTarget(rel);
	return rel;
}

void ExpectEnd(protocol::Reader &r, const char *what) {
	r.ExpectEnd();
	CheckReader(r, what);
}

bool SameKey(const LocalTarget *t, const TupleValues *a, const TupleValues *b) {
	bytea *ka = TombstoneKey(t, KeyValues(t, a));
	bytea *kb = TombstoneKey(t, KeyValues(t, b));
	return VARSIZE(ka) == VARSIZE(kb) && memcmp(ka, kb, VARSIZE(ka)) == 0;
}

void SlowPath(Operation op, RemoteRelation *rel, const TupleValues *old_row, bool old_is_full,
              const TupleValues *new_row) {
	conflict_pg::Change change{op, rel, old_row, old_is_full, new_row};
	conflict_pg::ApplyWithConflictHandling(change);
}

} // namespace

void ApplyInsert(protocol::Reader &r) {
	LocalTarget *t;
	RemoteRelation *rel = StartChange(r, "INSERT", &t);
	TupleValues row;
	if (CanBatch(t)) {
		/* Read straight into the batch's memory: the row lives until the batch is applied. */
		PrepareBatchFor(rel);
		MemoryContext old = MemoryContextSwitchTo(BatchContext());
		ReadTupleText(r, rel, t, &row);
		MemoryContextSwitchTo(old);
		ExpectEnd(r, "INSERT");
		AddToBatch(rel, row);
		return;
	}
	FlushBatch(); /* an insert of another table that is not batched keeps the order too */
	ReadTuple(r, rel, t, &row);
	ExpectEnd(r, "INSERT");
	if (t->nuniques == 0 && ExecInsert(rel, &row, true) == 1)
		return;
	SlowPath(Operation::kInsert, rel, nullptr, false, &row);
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
	const TupleValues *old_ptr = have_old ? &old_row : nullptr;
	bool old_is_full = old_kind == protocol::OldTupleKind::kFull;
	/* Delta columns need the old values, which only a full old row carries. */
	const TupleValues *delta_source = old_is_full ? old_ptr : nullptr;
	/* A key change is a delete and an insert, each decided on its own key: the slow path. */
	bool key_changed = have_old && !SameKey(t, &old_row, &new_row);
	if (t->nuniques == 0 && !key_changed &&
	    ExecUpdate(rel, &new_row, KeyValues(t, have_old ? &old_row : &new_row), delta_source, true, false) == 1)
		return;
	SlowPath(Operation::kUpdate, rel, old_ptr, old_is_full, &new_row);
}

void ApplyDelete(protocol::Reader &r) {
	LocalTarget *t;
	RemoteRelation *rel = StartChange(r, "DELETE", &t);
	protocol::OldTupleKind old_kind = r.GetOldTupleKind();
	CheckReader(r, "DELETE");
	if (old_kind == protocol::OldTupleKind::kNone)
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
		                errmsg("peer \"%s\" sent a DELETE without the deleted row's key", state->peer_name)));
	TupleValues old_row;
	ReadTuple(r, rel, t, &old_row);
	ExpectEnd(r, "DELETE");
	if (ExecDelete(rel, KeyValues(t, &old_row), true) == 1)
		return;
	SlowPath(Operation::kDelete, rel, &old_row, old_kind == protocol::OldTupleKind::kFull, nullptr);
}

void ApplyTruncate(protocol::Reader &r) {
	protocol::TruncateHeader h;
	r.GetTruncateHeader(&h);
	CheckReader(r, "TRUNCATE");
	state->current_action = "TRUNCATE";
	uint32 n = h.nrels;
	auto *names = static_cast<std::string_view *>(palloc(sizeof(std::string_view) * Max(n, 1u)));
	Oid *owners = static_cast<Oid *>(palloc(sizeof(Oid) * Max(n, 1u)));
	for (uint32 i = 0; i < n; i++) {
		uint32 relid = r.GetU32();
		CheckReader(r, "TRUNCATE");
		LocalTarget *t = ResolveTarget(LookupRelation(relid));
		names[i] = t->qualified_name;
		owners[i] = t->owner;
	}
	ExpectEnd(r, "TRUNCATE");
	/*
	 * Each owner's tables are truncated together with that owner's rights, so
	 * a TRUNCATE trigger never runs with more than its table owner's; one
	 * statement per owner, all in the applying transaction.  (Tables of
	 * different owners joined by a foreign key cannot be truncated apart: that
	 * apply fails and is retried, visibly, instead of running as the worker.)
	 */
	auto *group = static_cast<std::string_view *>(palloc(sizeof(std::string_view) * Max(n, 1u)));
	bool *done = static_cast<bool *>(palloc0(sizeof(bool) * Max(n, 1u)));
	for (uint32 first = 0; first < n; first++) {
		if (done[first])
			continue;
		size_t count = 0;
		for (uint32 i = first; i < n; i++) {
			if (!done[i] && owners[i] == owners[first]) {
				group[count++] = names[i];
				done[i] = true;
			}
		}
		char *sql = pg::ToPalloc([&] {
			return sql::BuildTruncate({group, count}, (h.options & protocol::kTruncateCascade) != 0,
			                          (h.options & protocol::kTruncateRestartIdentity) != 0);
		});
		OwnerScope owner(owners[first]);
		ConnectSpi();
		RequireSpiResult(SPI_execute(sql, false, 0), SPI_OK_UTILITY, "TRUNCATE");
		owner.Restore();
	}
}

} // namespace concord::apply
