/*
 * resolve.cpp — the apply slow path; see resolve.hpp.
 */
#include "worker/conflict/resolve.hpp"

extern "C" {
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

#include "extension/bridge/pg_compat.hpp"
#include "extension/tombstone/tombstone.hpp"
#include "worker/apply/apply_state.hpp"
#include "worker/apply/execute.hpp"
#include "worker/conflict/conflict_log.hpp"
#include "worker/conflict/custom_resolver.hpp"
#include "worker/conflict/local_version.hpp"
#include "worker/conflict/rows.hpp"
#include "worker/conflict/tombstone_counters.hpp"
#include "worker/conflict/unique_ghost.hpp"

namespace concord::conflict_pg {

using apply::LocalTarget;
using apply::TupleValues;
using conflict::Action;
using conflict::ConflictType;
using conflict::Operation;

namespace {

const char *OperationName(Operation op) {
	switch (op) {
	case Operation::kInsert:
		return "INSERT";
	case Operation::kUpdate:
		return "UPDATE";
	case Operation::kDelete:
		return "DELETE";
	}
	return "?";
}

[[noreturn]] void RaiseConflict(const LocalTarget *t, ConflictType type, Operation op, const conflict::Version &local) {
	char *local_node = pnstrdup(local.node.data(), local.node.size());
	ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
	                errmsg("conflict %s on table \"%s\": %s from peer \"%s\" (conflict policy \"error\")",
	                       conflict::ConflictTypeName(type), t->display_name, OperationName(op), apply::state->peer_name),
	                local.exists ? errdetail("The local version was written by node \"%s\" at %s.", local_node,
	                                         local.ts_known ? timestamptz_to_str(local.commit_ts) : "an unknown time")
	                             : errdetail("There is no local version of the row."),
	                errhint("Change the table's conflict policy, fix the local data, or call "
	                        "concord.skip_transaction('%s') to skip this transaction.",
	                        apply::state->peer_name)));
	pg_unreachable();
}

/* Policies under which a write that loses on another unique index gives way (GiveWay). */
bool DecidesByVersion(conflict::Policy policy) {
	return policy == conflict::Policy::kLastUpdateWins || policy == conflict::Policy::kFirstUpdateWins;
}

/*
 * Policies whose rows that gave way leave ghosts (unique_ghost.hpp): only
 * last_update_wins, where a ghost beats older writes only, and so no write
 * still to come once it is pruned.  (Under first_update_wins a ghost would
 * beat every later write of its values for as long as it is kept.)
 */
bool KeepsGhosts(conflict::Policy policy) { return policy == conflict::Policy::kLastUpdateWins; }

/* A local row holding the remote row's values in another unique index. */
struct Holder {
	LocalRow row;
	TupleValues values;
	bytea *key;
	bool remote_wins;
};

/*
 * Weighs the row a remote write would leave (`row`, key `key_values`)
 * against each local row holding its values in another unique index — a
 * unique_violation each — and, under last_update_wins, against ghosts of
 * rows that gave way before.  Under a version order each holder is weighed
 * on its own: one the remote row beats gives way (it is deleted, its
 * tombstone keeps the holder's own version, as if it had been deleted when
 * it was written over, and it leaves a ghost), even when another holder or a
 * ghost makes the remote row lose — a node that met the rows one at a time
 * deleted it as well.  Under the other policies holders give way only if
 * the remote row beats them all.  Returns false if the remote row lost.
 */
bool MakeRoom(const Change &c, const TupleValues *row, const Datum *key_values) {
	const LocalTarget *t = &c.rel->target;
	conflict::Version remote = RemoteVersion();
	bool ghosts = KeepsGhosts(t->policy);
	LockUniqueValues(&c.rel->target, row);
	Datum remote_row = (Datum)0;
	auto remote_composite = [&]() {
		if (remote_row == (Datum)0)
			remote_row = RemoteComposite(t, row, nullptr, (Datum)0);
		return remote_row;
	};
	auto *holders = static_cast<Holder *>(palloc0(sizeof(Holder) * Max(t->nuniques, 1)));
	int nholders = 0;
	bool lost = false;
	for (int i = 0; i < t->nuniques; i++) {
		Holder *h = &holders[nholders];
		LookupUniqueHolder(c.rel, &t->uniques[i], row, key_values, &h->row);
		/*
		 * A newer ghost beats the remote row whether or not a live row holds
		 * the values too.  Looked up after the holder: a worker deleting it
		 * (and writing its ghosts, on values this one has not locked) made
		 * that lookup wait for its commit, so this query sees the ghost.
		 */
		if (ghosts) {
			char *ghost_node = nullptr;
			conflict::Version ghost = NewestGhost(t, &t->uniques[i], row, key_values, &ghost_node);
			if (ghost.exists && !conflict::RemoteWinsUniqueConflict(t->policy, remote, ghost)) {
				LogConflict(t, ConflictType::kUniqueViolation, "keep_local", ghost, (Datum)0, remote_composite());
				lost = true;
			}
		}
		if (!h->row.exists)
			continue;
		if (t->policy == conflict::Policy::kError)
			RaiseConflict(t, ConflictType::kUniqueViolation, c.op, h->row.version);
		CompositeToValues(t, h->row.row, &h->values);
		h->key = apply::TombstoneKey(t, apply::KeyValues(t, &h->values));
		/* One holder of values in several indexes is weighed once. */
		bool seen = false;
		for (int j = 0; j < nholders && !seen; j++)
			seen = VARSIZE(holders[j].key) == VARSIZE(h->key) &&
			       memcmp(holders[j].key, h->key, VARSIZE(h->key)) == 0;
		if (seen)
			continue;
		h->remote_wins = conflict::RemoteWinsUniqueConflict(t->policy, remote, h->row.version);
		lost |= !h->remote_wins;
		nholders++;
	}
	bool each_on_its_own = DecidesByVersion(t->policy);
	for (int i = 0; i < nholders; i++) {
		Holder *h = &holders[i];
		bool gives_way = h->remote_wins && (each_on_its_own || !lost);
		LogConflict(t, ConflictType::kUniqueViolation, gives_way ? "apply_remote" : "keep_local", h->row.version,
		            h->row.row, remote_composite());
		if (!gives_way)
			continue;
		const Datum *holder_key = apply::KeyValues(t, &h->values);
		apply::ExecDelete(c.rel, holder_key, false);
		/* Written earlier in this transaction, the holder's version is the remote's: the tombstone's own. */
		const conflict::Version &held = h->row.version.in_current_xact ? remote : h->row.version;
		if (!h->row.version.in_current_xact)
			RecordRowVersion(t, holder_key, held);
		if (ghosts)
			RememberGhosts(t, &h->values, holder_key, held);
	}
	return !lost;
}

/*
 * A remote write that lost on another unique index under a version order
 * (last_update_wins, first_update_wins) is taken as written and at once
 * given way, as the holder would have given way to it had it come later:
 * its key ends deleted at the write's version (a local row the write was
 * to overwrite is deleted, with its counters kept in the tombstone, and the
 * write's increments added to them), and (last_update_wins) its values
 * are remembered as a ghost.  So every node ends the same whichever of the
 * rows it met first.
 * Under the other policies the write is just discarded.
 */
void GiveWay(const Change &c, const TupleValues *row, const LocalRow &local, const Datum *key_values,
             bytea *tombstone_key) {
	const LocalTarget *t = &c.rel->target;
	if (!DecidesByVersion(t->policy))
		return;
	bytea *key = tombstone_key != nullptr ? tombstone_key : apply::TombstoneKey(t, key_values);
	if (local.exists)
		apply::ExecDelete(c.rel, key_values, false); /* the trigger writes the tombstone */
	else
		tombstone::Refresh(t->relid, key);
	if (t->has_delta && c.op == Operation::kUpdate && c.old_is_full && c.old_row != nullptr)
		AddToTombstone(c, key, key_values, RemoteVersion());
	if (KeepsGhosts(t->policy))
		RememberGhosts(t, row, key_values, RemoteVersion());
}

/*
 * The row a write of c leaves: values the peer did not send (unchanged
 * TOAST values) come from its full old row, else from the local row.
 */
const TupleValues *RowAsWritten(const Change &c, const LocalRow &local) {
	if (!c.new_row->any_unchanged)
		return c.new_row;
	const TupleValues *old_row = c.old_is_full ? c.old_row : nullptr;
	auto *row = static_cast<TupleValues *>(palloc(sizeof(TupleValues)));
	CompositeToValues(&c.rel->target,
	                  RemoteComposite(&c.rel->target, c.new_row, old_row, local.exists ? local.row : (Datum)0), row);
	return row;
}

/* The remote row with values the peer did not send filled from the old row (REPLICA IDENTITY FULL). */
const TupleValues *CompleteRow(const Change &c) {
	if (!c.new_row->any_unchanged || c.old_row == nullptr || !c.old_is_full)
		return c.new_row;
	TupleValues *full = apply::CopyTupleValues(c.new_row);
	full->any_unchanged = false;
	for (int col = 0; col < full->ncols; col++) {
		bool from_old = c.new_row->unchanged[col] != 0;
		full->values[col] = from_old ? c.old_row->values[col] : c.new_row->values[col];
		full->nulls[col] = from_old ? c.old_row->nulls[col] : c.new_row->nulls[col];
		full->unchanged[col] = from_old && c.old_row->unchanged[col] ? 1 : 0;
		full->any_unchanged |= full->unchanged[col] != 0;
	}
	return full;
}

/*
 * Inserts `row` where the key has no row.  A version this transaction
 * recorded for the key's tombstone (a row deleted to make room, a merge)
 * would pass for the new row's on a delta table (now, or once the table
 * has delta columns): it goes.
 */
void InsertRow(const Change &c, const TupleValues *row, const Datum *key_values, const conflict::LocalState &local) {
	apply::ExecInsert(c.rel, row, false);
	if (local.tombstone.exists)
		tombstone::ForgetRecordedVersion(c.rel->target.relid, apply::TombstoneKey(&c.rel->target, key_values));
}

/* Writes a resolver's row: overwrites the local row, or inserts when there is none. */
void ApplyResolvedRow(const Change &c, const LocalRow &local, const conflict::LocalState &local_state,
                      const TupleValues *values, const Datum *key_values) {
	if (local.exists)
		apply::ExecUpdate(c.rel, values, key_values, nullptr, false, false);
	else
		InsertRow(c, values, key_values, local_state);
}

/* True if the update moves the row to another key. */
bool ChangesKey(const Change &c) {
	if (c.op != Operation::kUpdate || c.old_row == nullptr)
		return false;
	const LocalTarget *t = &c.rel->target;
	bytea *old_key = apply::TombstoneKey(t, apply::KeyValues(t, c.old_row));
	bytea *new_key = apply::TombstoneKey(t, apply::KeyValues(t, c.new_row));
	return VARSIZE(old_key) != VARSIZE(new_key) || memcmp(old_key, new_key, VARSIZE(old_key)) != 0;
}

/*
 * A key change is a delete of the old key and a write of the new one; each
 * key meets its own local state (row or tombstone) and is decided on its own,
 * as on every other node, so both keys converge.
 */
void ApplyKeyChange(const Change &c) {
	const LocalTarget *t = &c.rel->target;
	const TupleValues *row = CompleteRow(c);
	if (row->any_unchanged) {
		/* Values the peer did not send come from our copy of the old row, if we have it. */
		LocalRow old_local;
		LookupRow(c.rel, apply::KeyValues(t, c.old_row), &old_local);
		if (old_local.exists) {
			TupleValues local_values;
			CompositeToValues(t, old_local.row, &local_values);
			TupleValues *filled = apply::CopyTupleValues(row);
			filled->any_unchanged = false;
			for (int col = 0; col < row->ncols; col++) {
				bool from_local = row->unchanged[col] != 0;
				filled->values[col] = from_local ? local_values.values[col] : row->values[col];
				filled->nulls[col] = from_local ? local_values.nulls[col] : row->nulls[col];
				filled->unchanged[col] = 0;
			}
			row = filled;
		}
	}
	ApplyWithConflictHandling({Operation::kDelete, c.rel, c.old_row, c.old_is_full, nullptr});
	ApplyWithConflictHandling({Operation::kInsert, c.rel, nullptr, false, row});
}

/*
 * Whether the change meets a tombstone of a delta table whose counters it
 * merges with: an update carrying its full old row (the increments are new
 * minus old).  Not an insert: the row this node deleted had counted its
 * insert already (see tombstone_counters.hpp).
 */
bool KeepsCounters(const Change &c, const conflict::LocalState &local) {
	if (!c.rel->target.has_delta || local.row.exists || !local.tombstone.exists)
		return false;
	return c.op == Operation::kUpdate && c.old_is_full && c.old_row != nullptr;
}

} // namespace

void ApplyWithConflictHandling(const Change &c) {
	if (ChangesKey(c)) {
		ApplyKeyChange(c);
		return;
	}
	LocalTarget *t = &c.rel->target;
	const TupleValues *key_source = c.old_row != nullptr ? c.old_row : c.new_row;
	Datum *key_values = apply::KeyValues(t, key_source);

	conflict::LocalState local_state;
	LocalRow local;
	LookupRow(c.rel, key_values, &local);
	local_state.row = local.version;
	bytea *tombstone_key = nullptr;
	if (!local.exists) {
		tombstone_key = apply::TombstoneKey(t, key_values);
		/* Locked on delta tables: a losing update merges into its counters under the version read here. */
		local_state.tombstone = LookupTombstone(t, tombstone_key, t->has_delta);
		if (t->has_delta && local_state.tombstone.exists) {
			/*
			 * The lock may have waited for a transaction that brought the row
			 * back from this tombstone: its row is visible now, and is what
			 * the change meets.
			 */
			LookupRow(c.rel, key_values, &local);
			if (local.exists) {
				local_state.row = local.version;
				local_state.tombstone = conflict::Version{};
			}
		}
	}
	conflict::Version remote = RemoteVersion();
	conflict::Decision d = conflict::Decide(c.op, t->policy, remote, local_state);
	const conflict::Version &met = local.exists ? local_state.row : local_state.tombstone;

	if (d.action == Action::kError)
		RaiseConflict(t, d.type, c.op, met);

	/* A remote row about to be written must not collide on another unique index. */
	bool writes_remote_row = c.op != Operation::kDelete && (d.action == Action::kApply ||
	                                                        d.action == Action::kInsertRow ||
	                                                        d.action == Action::kUpdateRow);
	if (writes_remote_row && t->nuniques > 0) {
		const TupleValues *row = RowAsWritten(c, local);
		if (!MakeRoom(c, row, key_values)) {
			GiveWay(c, row, local, key_values, tombstone_key);
			return;
		}
	}

	Datum remote_row = (Datum)0;
	if (d.type != ConflictType::kNone || d.action == Action::kCustom)
		remote_row = c.new_row != nullptr ? RemoteComposite(t, c.new_row, c.old_row, local.exists ? local.row : (Datum)0)
		                                  : RemoteComposite(t, key_source, nullptr, (Datum)0);
	const char *resolution = conflict::ActionName(d.action);
	/* Delta columns merge from the remote's old values, which only a full old row carries. */
	const TupleValues *delta_old = c.old_is_full ? c.old_row : nullptr;

	switch (d.action) {
	case Action::kSkip:
		return;
	case Action::kApply:
		if (c.op == Operation::kInsert) {
			InsertRow(c, c.new_row, key_values, local_state);
		} else if (c.op == Operation::kUpdate) {
			/*
			 * A winning update over another node's write takes the remote row
			 * whole (unchanged TOAST values from the full old row), so the key
			 * ends the same wherever the two writes meet in either order.
			 */
			const TupleValues *row = d.type != ConflictType::kNone ? CompleteRow(c) : c.new_row;
			apply::ExecUpdate(c.rel, row, key_values, delta_old, false, false);
		} else {
			apply::ExecDelete(c.rel, key_values, false);
		}
		break;
	case Action::kInsertRow: {
		const TupleValues *row = CompleteRow(c);
		/* A delete that lost to this update kept the row's counters: they go on from there. */
		if (KeepsCounters(c, local_state))
			row = StartFromTombstone(c, row, tombstone_key);
		InsertRow(c, row, key_values, local_state);
		break;
	}
	case Action::kUpdateRow:
		apply::ExecUpdate(c.rel, c.new_row, key_values, nullptr, false, false);
		break;
	case Action::kKeepLocal:
		/*
		 * The local row stays, but concurrent increments of delta columns
		 * still add up.  That write would give the row the remote's (losing)
		 * version, so the local version that won is recorded for it.
		 */
		if (c.op == Operation::kUpdate && local.exists && t->has_delta && delta_old != nullptr) {
			apply::ExecUpdate(c.rel, c.new_row, key_values, delta_old, false, true);
			RecordRowVersion(t, key_values, local.version);
		}
		/* Likewise against a delete that wins: they go into its tombstone's counters. */
		if (KeepsCounters(c, local_state))
			AddToTombstone(c, tombstone_key, key_values, local_state.tombstone);
		break;
	case Action::kRecordDelete:
		tombstone::Refresh(t->relid, tombstone_key != nullptr ? tombstone_key : apply::TombstoneKey(t, key_values));
		break;
	case Action::kCustom: {
		Datum resolved;
		resolution = "keep_local";
		if (CallResolver(t, local.exists ? local.row : (Datum)0, remote_row, d.type, &resolved)) {
			TupleValues values;
			CompositeToValues(t, resolved, &values);
			/* The resolver's row, not the remote one, is what meets the other unique indexes. */
			if (t->nuniques == 0 || MakeRoom(c, &values, key_values)) {
				ApplyResolvedRow(c, local, local_state, &values, key_values);
				resolution = "custom";
			}
		}
		break;
	}
	case Action::kError:
		break; /* raised above */
	}
	if (d.type != ConflictType::kNone)
		LogConflict(t, d.type, resolution, met, local.exists ? local.row : (Datum)0, remote_row);
}

} // namespace concord::conflict_pg
