/*
 * decide.cpp — the conflict decision table; see decide.hpp for the rules.
 */
#include "common/conflict/decide.hpp"

namespace concord::conflict {

bool Newer(const Version &a, const Version &b) {
	if (a.ts_known != b.ts_known)
		return a.ts_known; /* unknown timestamps are the oldest */
	if (a.ts_known && a.commit_ts != b.commit_ts)
		return a.commit_ts > b.commit_ts;
	return a.node > b.node;
}

bool SameWrite(const Version &a, const Version &b) {
	return a.ts_known && b.ts_known && a.commit_ts == b.commit_ts && a.node == b.node;
}

namespace {

bool SameOrigin(const Version &remote, const Version &local) {
	return local.in_current_xact || local.node == remote.node;
}

/* Same node, and the local version already contains the remote write (see Version::recorded). */
bool AlreadyContained(const Version &remote, const Version &local) {
	return local.recorded && !local.in_current_xact && local.node == remote.node && !Newer(remote, local);
}

/* Policies that pick by version: which side's version wins. */
bool RemoteWinsByVersion(Policy policy, const Version &remote, const Version &local) {
	if (!local.exists)
		return true; /* nothing known locally: the remote write is the first and the last */
	if (policy == Policy::kFirstUpdateWins)
		return Newer(local, remote);
	return Newer(remote, local);
}

/* The action for a conflict of `type` where `local` is what the remote write meets. */
Decision Resolve(ConflictType type, Policy policy, const Version &remote, const Version &local, Action remote_wins,
                 Action local_wins) {
	Decision d;
	d.type = type;
	switch (policy) {
	case Policy::kLastUpdateWins:
	case Policy::kFirstUpdateWins:
		d.action = RemoteWinsByVersion(policy, remote, local) ? remote_wins : local_wins;
		break;
	case Policy::kApplyRemote:
		d.action = remote_wins;
		break;
	case Policy::kKeepLocal:
		d.action = local_wins;
		break;
	case Policy::kError:
		d.action = Action::kError;
		break;
	case Policy::kCustom:
		/* Deletes have no row to hand a resolver: they follow last-update-wins. */
		if (type == ConflictType::kDeleteOriginDiffers)
			d.action = Newer(remote, local) ? remote_wins : local_wins;
		else
			d.action = Action::kCustom;
		break;
	}
	return d;
}

Decision DecideInsert(Policy policy, const Version &remote, const LocalState &local) {
	if (local.row.exists) {
		/* Written earlier in this very transaction (a batched insert of it): already applied. */
		if (SameWrite(remote, local.row) || local.row.in_current_xact || AlreadyContained(remote, local.row))
			return {ConflictType::kNone, Action::kSkip};
		return Resolve(ConflictType::kInsertExists, policy, remote, local.row, Action::kUpdateRow, Action::kKeepLocal);
	}
	if (local.tombstone.exists) {
		if (SameWrite(remote, local.tombstone))
			return {ConflictType::kNone, Action::kSkip};
		/* A newer write after a delete is a re-insert, not a conflict. */
		if (SameOrigin(remote, local.tombstone) || Newer(remote, local.tombstone))
			return {ConflictType::kNone, Action::kApply};
		return Resolve(ConflictType::kInsertDeleted, policy, remote, local.tombstone, Action::kApply,
		               Action::kKeepLocal);
	}
	return {ConflictType::kNone, Action::kApply};
}

Decision DecideUpdate(Policy policy, const Version &remote, const LocalState &local) {
	if (local.row.exists) {
		if (SameWrite(remote, local.row) || AlreadyContained(remote, local.row))
			return {ConflictType::kNone, Action::kSkip};
		if (SameOrigin(remote, local.row))
			return {ConflictType::kNone, Action::kApply};
		return Resolve(ConflictType::kUpdateOriginDiffers, policy, remote, local.row, Action::kApply,
		               Action::kKeepLocal);
	}
	if (local.tombstone.exists) {
		if (SameWrite(remote, local.tombstone))
			return {ConflictType::kNone, Action::kSkip};
		return Resolve(ConflictType::kUpdateDeleted, policy, remote, local.tombstone, Action::kInsertRow,
		               Action::kKeepLocal);
	}
	/* Nothing known about the key: the remote write is the only version there is. */
	Version nothing;
	return Resolve(ConflictType::kUpdateMissing, policy, remote, nothing, Action::kInsertRow, Action::kKeepLocal);
}

Decision DecideDelete(Policy policy, const Version &remote, const LocalState &local) {
	if (local.row.exists) {
		if (AlreadyContained(remote, local.row))
			return {ConflictType::kNone, Action::kSkip};
		if (SameOrigin(remote, local.row))
			return {ConflictType::kNone, Action::kApply};
		return Resolve(ConflictType::kDeleteOriginDiffers, policy, remote, local.row, Action::kApply,
		               Action::kKeepLocal);
	}
	if (local.tombstone.exists && SameWrite(remote, local.tombstone))
		return {ConflictType::kNone, Action::kSkip};
	Decision d;
	d.type = ConflictType::kDeleteMissing;
	if (policy == Policy::kError)
		d.action = Action::kError;
	else if (local.tombstone.exists && !Newer(remote, local.tombstone))
		d.action = Action::kKeepLocal; /* already deleted by a later write */
	else
		d.action = Action::kRecordDelete;
	return d;
}

} // namespace

Decision Decide(Operation op, Policy policy, const Version &remote, const LocalState &local) {
	switch (op) {
	case Operation::kInsert:
		return DecideInsert(policy, remote, local);
	case Operation::kUpdate:
		return DecideUpdate(policy, remote, local);
	case Operation::kDelete:
		return DecideDelete(policy, remote, local);
	}
	return {};
}

bool RemoteWinsUniqueConflict(Policy policy, const Version &remote, const Version &local_row) {
	switch (policy) {
	case Policy::kApplyRemote:
		return true;
	case Policy::kKeepLocal:
	case Policy::kError:
		return false;
	case Policy::kFirstUpdateWins:
		return Newer(local_row, remote);
	case Policy::kLastUpdateWins:
	case Policy::kCustom:
		return Newer(remote, local_row);
	}
	return false;
}

const char *PolicyName(Policy policy) {
	switch (policy) {
	case Policy::kLastUpdateWins:
		return "last_update_wins";
	case Policy::kFirstUpdateWins:
		return "first_update_wins";
	case Policy::kApplyRemote:
		return "apply_remote";
	case Policy::kKeepLocal:
		return "keep_local";
	case Policy::kError:
		return "error";
	case Policy::kCustom:
		return "custom";
	}
	return "unknown";
}

bool ParsePolicy(std::string_view name, Policy *out) {
	for (Policy p : {Policy::kLastUpdateWins, Policy::kFirstUpdateWins, Policy::kApplyRemote, Policy::kKeepLocal,
	                 Policy::kError, Policy::kCustom}) {
		if (name == PolicyName(p)) {
			*out = p;
			return true;
		}
	}
	return false;
}

const char *ConflictTypeName(ConflictType type) {
	switch (type) {
	case ConflictType::kNone:
		return "none";
	case ConflictType::kInsertExists:
		return "insert_exists";
	case ConflictType::kInsertDeleted:
		return "insert_deleted";
	case ConflictType::kUpdateOriginDiffers:
		return "update_origin_differs";
	case ConflictType::kUpdateMissing:
		return "update_missing";
	case ConflictType::kUpdateDeleted:
		return "update_deleted";
	case ConflictType::kDeleteOriginDiffers:
		return "delete_origin_differs";
	case ConflictType::kDeleteMissing:
		return "delete_missing";
	case ConflictType::kUniqueViolation:
		return "unique_violation";
	}
	return "unknown";
}

const char *ActionName(Action action) {
	switch (action) {
	case Action::kApply:
	case Action::kInsertRow:
	case Action::kUpdateRow:
		return "apply_remote";
	case Action::kKeepLocal:
		return "keep_local";
	case Action::kRecordDelete:
		return "record_tombstone";
	case Action::kCustom:
		return "custom";
	case Action::kError:
		return "error";
	case Action::kSkip:
		return "skip";
	}
	return "unknown";
}

} // namespace concord::conflict
