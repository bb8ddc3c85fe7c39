/*
 * decide.hpp — what to do with a remote change that meets local state
 * (pure C++, no PostgreSQL).
 *
 * Inputs are the change (INSERT/UPDATE/DELETE), the table's policy, the
 * remote write's version, and what this node holds for the key: the live
 * row's version (if any) and the key's tombstone (if the key was deleted).
 * A version is (commit timestamp, node name); "last update wins" orders
 * versions by timestamp, then by node name bytewise, and a delete is a write
 * of "no row".  A version with an unknown timestamp (a row written before
 * track_commit_timestamp was on, or frozen) is older than every known one.
 *
 * Invariants:
 *   - a change from the node that last wrote the key is never a conflict
 *     (its stream is ordered);
 *   - a change whose version equals the local one is the same change seen
 *     again (replay) and is skipped silently, as is an insert meeting a row
 *     the transaction being applied already wrote;
 *   - under last_update_wins the surviving state for a key is the one with
 *     the greatest version, whatever order changes arrive in.
 */
#pragma once

#include <cstdint>
#include <string_view>

namespace concord::conflict {

enum class Policy {
	kLastUpdateWins,
	kFirstUpdateWins,
	kApplyRemote,
	kKeepLocal,
	kError,
	kCustom,
};

enum class Operation { kInsert, kUpdate, kDelete };

enum class ConflictType {
	kNone,
	kInsertExists,          /* INSERT, key already present */
	kInsertDeleted,         /* INSERT, key deleted by another node with a newer version */
	kUpdateOriginDiffers,   /* UPDATE, row last written by another node */
	kUpdateMissing,         /* UPDATE, no row and no tombstone */
	kUpdateDeleted,         /* UPDATE, no row, key deleted (tombstone) */
	kDeleteOriginDiffers,   /* DELETE, row last written by another node */
	kDeleteMissing,         /* DELETE, no row */
	kUniqueViolation,       /* a unique index other than the key holds another row */
};

enum class Action {
	kApply,        /* apply the remote change as sent */
	kInsertRow,    /* no local row: insert the remote row (an UPDATE resurrecting the key) */
	kUpdateRow,    /* local row exists: overwrite it with the remote row (an INSERT that wins) */
	kKeepLocal,    /* discard the remote change (delta columns still merge) */
	kRecordDelete, /* no row to delete: remember the delete as a tombstone */
	kCustom,       /* ask the table's resolver */
	kError,        /* stop: the operator decides */
	kSkip,         /* the same change seen again: nothing to do, nothing to record */
};

struct Version {
	bool exists = false;         /* is there a row / tombstone at all */
	bool ts_known = false;       /* commit timestamp available */
	int64_t commit_ts = 0;       /* microseconds, PostgreSQL epoch */
	std::string_view node;       /* node that wrote it */
	bool in_current_xact = false; /* written earlier in the transaction being applied */
	/*
	 * The version was recorded for the row (an initial copy, or a delta merge),
	 * not read from its xmin.  A write from the same node that is not newer
	 * than a recorded version is already contained in it (a copy and the
	 * stream overlap there) and is skipped.
	 */
	bool recorded = false;
};

struct LocalState {
	Version row;
	Version tombstone;
};

struct Decision {
	ConflictType type = ConflictType::kNone;
	Action action = Action::kApply;
};

/* True if a is a later write than b under last-update-wins ordering. */
bool Newer(const Version &a, const Version &b);

/* Same write seen twice: equal known timestamps and node. */
bool SameWrite(const Version &a, const Version &b);

Decision Decide(Operation op, Policy policy, const Version &remote, const LocalState &local);

/*
 * A remote row that collides on another unique index with an existing local
 * row: true if the remote change wins (the local row gives way), false if it
 * is discarded.  Policy kError is the caller's to raise before asking.
 */
bool RemoteWinsUniqueConflict(Policy policy, const Version &remote, const Version &local_row);

/* SQL-facing names. */
const char *PolicyName(Policy policy);
bool ParsePolicy(std::string_view name, Policy *out);
const char *ConflictTypeName(ConflictType type);
const char *ActionName(Action action);

} // namespace concord::conflict
