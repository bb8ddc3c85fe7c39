// decide_test.cpp — the conflict decision table (common/conflict/decide.hpp):
// every operation × local state × policy × version order, plus the ordering
// rules and the convergence property of last_update_wins.
#include "common/conflict/decide.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace concord::conflict {
namespace {

Version V(int64_t ts, const char *node) {
	Version v;
	v.exists = true;
	v.ts_known = true;
	v.commit_ts = ts;
	v.node = node;
	return v;
}

Version Unknown(const char *node) {
	Version v;
	v.exists = true;
	v.ts_known = false;
	v.node = node;
	return v;
}

Version CurrentXact(const char *node) {
	Version v = Unknown(node);
	v.in_current_xact = true;
	return v;
}

LocalState Row(Version v) { return LocalState{v, Version{}}; }
LocalState Tomb(Version v) { return LocalState{Version{}, v}; }
LocalState Nothing() { return LocalState{}; }

constexpr std::array<Policy, 6> kPolicies = {Policy::kLastUpdateWins, Policy::kFirstUpdateWins,
                                             Policy::kApplyRemote,    Policy::kKeepLocal,
                                             Policy::kError,          Policy::kCustom};

// ---------------------------------------------------------------------------
// Ordering
// ---------------------------------------------------------------------------

TEST(Newer, TimestampDecidesFirst) {
	EXPECT_TRUE(Newer(V(2, "a"), V(1, "z")));
	EXPECT_FALSE(Newer(V(1, "z"), V(2, "a")));
}

TEST(Newer, TiesBreakOnNodeNameBytewise) {
	EXPECT_TRUE(Newer(V(5, "b"), V(5, "a")));
	EXPECT_FALSE(Newer(V(5, "a"), V(5, "b")));
	EXPECT_TRUE(Newer(V(5, "node_10"), V(5, "node_1")));  // bytewise, not numeric
	EXPECT_TRUE(Newer(V(5, "n2"), V(5, "n10")));          // '2' > '1'
}

TEST(Newer, EqualVersionsAreNotNewer) {
	EXPECT_FALSE(Newer(V(5, "a"), V(5, "a")));
}

TEST(Newer, UnknownTimestampIsOldest) {
	EXPECT_TRUE(Newer(V(-1000000, "a"), Unknown("z")));
	EXPECT_FALSE(Newer(Unknown("z"), V(-1000000, "a")));
	EXPECT_TRUE(Newer(Unknown("b"), Unknown("a")));  // among unknowns, node names decide
}

TEST(SameWrite, NeedsKnownEqualTimestampAndNode) {
	EXPECT_TRUE(SameWrite(V(7, "a"), V(7, "a")));
	EXPECT_FALSE(SameWrite(V(7, "a"), V(7, "b")));
	EXPECT_FALSE(SameWrite(V(7, "a"), V(8, "a")));
	EXPECT_FALSE(SameWrite(Unknown("a"), Unknown("a")));
}

// ---------------------------------------------------------------------------
// The table: operation × local state × policy × who is newer
// ---------------------------------------------------------------------------

struct Case {
	const char *name;
	Operation op;
	LocalState local;
	Version remote;
	// Expected per policy, in kPolicies order.
	ConflictType type;
	std::array<Action, 6> actions;
};

// Remote "r" at ts 10 against local versions older (5) or newer (20) from node "l".
const Version kRemote = V(10, "r");
const Version kOlder = V(5, "l");
const Version kNewer = V(20, "l");

//                                       LWW                FUW                 apply_remote       keep_local          error          custom
const std::vector<Case> kCases = {
    {"insert into free key", Operation::kInsert, Nothing(), kRemote, ConflictType::kNone,
     {Action::kApply, Action::kApply, Action::kApply, Action::kApply, Action::kApply, Action::kApply}},
    {"insert over older row", Operation::kInsert, Row(kOlder), kRemote, ConflictType::kInsertExists,
     {Action::kUpdateRow, Action::kKeepLocal, Action::kUpdateRow, Action::kKeepLocal, Action::kError, Action::kCustom}},
    {"insert over newer row", Operation::kInsert, Row(kNewer), kRemote, ConflictType::kInsertExists,
     {Action::kKeepLocal, Action::kUpdateRow, Action::kUpdateRow, Action::kKeepLocal, Action::kError, Action::kCustom}},
    {"insert after older delete", Operation::kInsert, Tomb(kOlder), kRemote, ConflictType::kNone,
     {Action::kApply, Action::kApply, Action::kApply, Action::kApply, Action::kApply, Action::kApply}},
    {"insert before newer delete", Operation::kInsert, Tomb(kNewer), kRemote, ConflictType::kInsertDeleted,
     {Action::kKeepLocal, Action::kApply, Action::kApply, Action::kKeepLocal, Action::kError, Action::kCustom}},
    {"update of own row", Operation::kUpdate, Row(V(5, "r")), kRemote, ConflictType::kNone,
     {Action::kApply, Action::kApply, Action::kApply, Action::kApply, Action::kApply, Action::kApply}},
    {"update over older foreign row", Operation::kUpdate, Row(kOlder), kRemote, ConflictType::kUpdateOriginDiffers,
     {Action::kApply, Action::kKeepLocal, Action::kApply, Action::kKeepLocal, Action::kError, Action::kCustom}},
    {"update over newer foreign row", Operation::kUpdate, Row(kNewer), kRemote, ConflictType::kUpdateOriginDiffers,
     {Action::kKeepLocal, Action::kApply, Action::kApply, Action::kKeepLocal, Action::kError, Action::kCustom}},
    {"update of missing row", Operation::kUpdate, Nothing(), kRemote, ConflictType::kUpdateMissing,
     {Action::kInsertRow, Action::kInsertRow, Action::kInsertRow, Action::kKeepLocal, Action::kError,
      Action::kCustom}},
    {"update after older delete", Operation::kUpdate, Tomb(kOlder), kRemote, ConflictType::kUpdateDeleted,
     {Action::kInsertRow, Action::kKeepLocal, Action::kInsertRow, Action::kKeepLocal, Action::kError,
      Action::kCustom}},
    {"update before newer delete", Operation::kUpdate, Tomb(kNewer), kRemote, ConflictType::kUpdateDeleted,
     {Action::kKeepLocal, Action::kInsertRow, Action::kInsertRow, Action::kKeepLocal, Action::kError,
      Action::kCustom}},
    {"delete of own row", Operation::kDelete, Row(V(5, "r")), kRemote, ConflictType::kNone,
     {Action::kApply, Action::kApply, Action::kApply, Action::kApply, Action::kApply, Action::kApply}},
    // custom: a delete has no row to hand a resolver, so it follows last_update_wins.
    {"delete of older foreign row", Operation::kDelete, Row(kOlder), kRemote, ConflictType::kDeleteOriginDiffers,
     {Action::kApply, Action::kKeepLocal, Action::kApply, Action::kKeepLocal, Action::kError, Action::kApply}},
    {"delete of newer foreign row", Operation::kDelete, Row(kNewer), kRemote, ConflictType::kDeleteOriginDiffers,
     {Action::kKeepLocal, Action::kApply, Action::kApply, Action::kKeepLocal, Action::kError, Action::kKeepLocal}},
    {"delete of missing row", Operation::kDelete, Nothing(), kRemote, ConflictType::kDeleteMissing,
     {Action::kRecordDelete, Action::kRecordDelete, Action::kRecordDelete, Action::kRecordDelete, Action::kError,
      Action::kRecordDelete}},
    {"delete after older delete", Operation::kDelete, Tomb(kOlder), kRemote, ConflictType::kDeleteMissing,
     {Action::kRecordDelete, Action::kRecordDelete, Action::kRecordDelete, Action::kRecordDelete, Action::kError,
      Action::kRecordDelete}},
    {"delete before newer delete", Operation::kDelete, Tomb(kNewer), kRemote, ConflictType::kDeleteMissing,
     {Action::kKeepLocal, Action::kKeepLocal, Action::kKeepLocal, Action::kKeepLocal, Action::kError,
      Action::kKeepLocal}},
};

TEST(Decide, EveryOperationStateAndPolicy) {
	for (const Case &c : kCases) {
		for (size_t p = 0; p < kPolicies.size(); p++) {
			Decision d = Decide(c.op, kPolicies[p], c.remote, c.local);
			EXPECT_EQ(d.type, c.type) << c.name << " / " << PolicyName(kPolicies[p]);
			EXPECT_EQ(d.action, c.actions[p]) << c.name << " / " << PolicyName(kPolicies[p]) << ": got "
			                                  << ActionName(d.action);
		}
	}
}

// ---------------------------------------------------------------------------
// Replays and rows of the transaction being applied
// ---------------------------------------------------------------------------

TEST(Decide, TheSameWriteSeenAgainIsSkippedSilentlyUnderEveryPolicy) {
	for (Policy p : kPolicies) {
		EXPECT_EQ(Decide(Operation::kInsert, p, kRemote, Row(kRemote)).action, Action::kSkip) << PolicyName(p);
		EXPECT_EQ(Decide(Operation::kInsert, p, kRemote, Row(kRemote)).type, ConflictType::kNone);
		EXPECT_EQ(Decide(Operation::kUpdate, p, kRemote, Row(kRemote)).action, Action::kSkip) << PolicyName(p);
		EXPECT_EQ(Decide(Operation::kDelete, p, kRemote, Tomb(kRemote)).action, Action::kSkip) << PolicyName(p);
		EXPECT_EQ(Decide(Operation::kInsert, p, kRemote, Tomb(kRemote)).action, Action::kSkip) << PolicyName(p);
	}
}

TEST(Decide, RowsWrittenEarlierInTheSameTransactionAreNotConflicts) {
	for (Policy p : kPolicies) {
		// An insert meeting its own batched insert: already applied.
		Decision ins = Decide(Operation::kInsert, p, kRemote, Row(CurrentXact("r")));
		EXPECT_EQ(ins.type, ConflictType::kNone) << PolicyName(p);
		EXPECT_EQ(ins.action, Action::kSkip) << PolicyName(p);
		// Insert then update (or delete) in one remote transaction.
		EXPECT_EQ(Decide(Operation::kUpdate, p, kRemote, Row(CurrentXact("r"))).action, Action::kApply);
		EXPECT_EQ(Decide(Operation::kDelete, p, kRemote, Row(CurrentXact("r"))).action, Action::kApply);
	}
}

TEST(Decide, WritesAlreadyContainedInACopiedRowAreSkipped) {
	// A copied row carries c's write at 12; the stream then brings c's writes at 11 and 12 again.
	Version copied = V(12, "c");
	copied.recorded = true;
	for (Policy p : kPolicies) {
		EXPECT_EQ(Decide(Operation::kUpdate, p, V(11, "c"), Row(copied)).action, Action::kSkip) << PolicyName(p);
		EXPECT_EQ(Decide(Operation::kUpdate, p, V(12, "c"), Row(copied)).action, Action::kSkip) << PolicyName(p);
		EXPECT_EQ(Decide(Operation::kInsert, p, V(11, "c"), Row(copied)).action, Action::kSkip) << PolicyName(p);
		EXPECT_EQ(Decide(Operation::kDelete, p, V(11, "c"), Row(copied)).action, Action::kSkip) << PolicyName(p);
		// A later write of c applies as usual.
		EXPECT_EQ(Decide(Operation::kUpdate, p, V(13, "c"), Row(copied)).action, Action::kApply) << PolicyName(p);
	}
	// Without a recorded version the same node's stream is trusted as ordered.
	EXPECT_EQ(Decide(Operation::kUpdate, Policy::kLastUpdateWins, V(11, "c"), Row(V(12, "c"))).action, Action::kApply);
}

TEST(Decide, AReinsertAfterADeleteBySameNodeIsNoConflict) {
	// Same node deleted (at 5) and re-inserted (at 10): its stream is ordered.
	Decision d = Decide(Operation::kInsert, Policy::kError, kRemote, Tomb(V(5, "r")));
	EXPECT_EQ(d.type, ConflictType::kNone);
	EXPECT_EQ(d.action, Action::kApply);
}

TEST(Decide, LocalRowOfUnknownAgeLosesUnderLastUpdateWins) {
	EXPECT_EQ(Decide(Operation::kUpdate, Policy::kLastUpdateWins, kRemote, Row(Unknown("l"))).action, Action::kApply);
	EXPECT_EQ(Decide(Operation::kInsert, Policy::kLastUpdateWins, kRemote, Row(Unknown("l"))).action,
	          Action::kUpdateRow);
}

TEST(Decide, TiesBetweenNodesFollowNodeNames) {
	// Same commit timestamp: the bytewise-greater node name wins.
	EXPECT_EQ(Decide(Operation::kUpdate, Policy::kLastUpdateWins, V(10, "b"), Row(V(10, "a"))).action, Action::kApply);
	EXPECT_EQ(Decide(Operation::kUpdate, Policy::kLastUpdateWins, V(10, "a"), Row(V(10, "b"))).action,
	          Action::kKeepLocal);
	EXPECT_EQ(Decide(Operation::kUpdate, Policy::kFirstUpdateWins, V(10, "a"), Row(V(10, "b"))).action, Action::kApply);
}

// ---------------------------------------------------------------------------
// Unique violations on other indexes
// ---------------------------------------------------------------------------

TEST(UniqueConflict, EachPolicy) {
	EXPECT_TRUE(RemoteWinsUniqueConflict(Policy::kLastUpdateWins, kRemote, kOlder));
	EXPECT_FALSE(RemoteWinsUniqueConflict(Policy::kLastUpdateWins, kRemote, kNewer));
	EXPECT_FALSE(RemoteWinsUniqueConflict(Policy::kFirstUpdateWins, kRemote, kOlder));
	EXPECT_TRUE(RemoteWinsUniqueConflict(Policy::kFirstUpdateWins, kRemote, kNewer));
	EXPECT_TRUE(RemoteWinsUniqueConflict(Policy::kApplyRemote, kRemote, kNewer));
	EXPECT_FALSE(RemoteWinsUniqueConflict(Policy::kKeepLocal, kRemote, kOlder));
	EXPECT_FALSE(RemoteWinsUniqueConflict(Policy::kError, kRemote, kOlder));
	EXPECT_TRUE(RemoteWinsUniqueConflict(Policy::kCustom, kRemote, kOlder));
}

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

TEST(Names, PoliciesRoundTrip) {
	for (Policy p : kPolicies) {
		Policy parsed;
		ASSERT_TRUE(ParsePolicy(PolicyName(p), &parsed));
		EXPECT_EQ(parsed, p);
	}
	Policy unused;
	EXPECT_FALSE(ParsePolicy("last_writer_wins", &unused));
	EXPECT_FALSE(ParsePolicy("", &unused));
}

TEST(Names, ConflictTypesAreTheDocumentedOnes) {
	EXPECT_STREQ(ConflictTypeName(ConflictType::kInsertExists), "insert_exists");
	EXPECT_STREQ(ConflictTypeName(ConflictType::kUpdateOriginDiffers), "update_origin_differs");
	EXPECT_STREQ(ConflictTypeName(ConflictType::kUpdateMissing), "update_missing");
	EXPECT_STREQ(ConflictTypeName(ConflictType::kDeleteOriginDiffers), "delete_origin_differs");
	EXPECT_STREQ(ConflictTypeName(ConflictType::kDeleteMissing), "delete_missing");
	EXPECT_STREQ(ConflictTypeName(ConflictType::kUniqueViolation), "unique_violation");
	EXPECT_STREQ(ConflictTypeName(ConflictType::kInsertDeleted), "insert_deleted");
	EXPECT_STREQ(ConflictTypeName(ConflictType::kUpdateDeleted), "update_deleted");
}

// ---------------------------------------------------------------------------
// Convergence of last_update_wins: a key's final state does not depend on
// the order in which writes arrive.
// ---------------------------------------------------------------------------

// A write to one key: a row version (put) or "no row" (delete).
struct Write {
	Version version;
	bool is_delete;
	int value;
};

// One node's state of the key, driven only through Decide().
struct Replica {
	LocalState state;
	int value = 0;

	void Apply(const Write &w) {
		Operation op = w.is_delete ? Operation::kDelete : (state.row.exists ? Operation::kUpdate : Operation::kInsert);
		Decision d = Decide(op, Policy::kLastUpdateWins, w.version, state);
		switch (d.action) {
		case Action::kApply:
		case Action::kInsertRow:
		case Action::kUpdateRow:
			if (w.is_delete) {
				state.tombstone = w.version;
				state.row = Version{};
			} else {
				state.row = w.version;
				value = w.value;
			}
			break;
		case Action::kRecordDelete:
			state.tombstone = w.version;
			break;
		default:
			break;
		}
	}
};

// Each node's writes reach a replica in the order the node committed them
// (one ordered stream per link); across nodes any interleaving is possible.
bool KeepsPerNodeOrder(const std::vector<Write> &writes, const std::vector<int> &order) {
	for (size_t i = 0; i < order.size(); i++)
		for (size_t j = i + 1; j < order.size(); j++) {
			const Version &a = writes[order[i]].version;
			const Version &b = writes[order[j]].version;
			if (a.node == b.node && Newer(a, b))
				return false;
		}
	return true;
}

TEST(Convergence, EveryArrivalOrderOfPutsAndDeletesEndsInTheNewestWrite) {
	// Writes from three nodes, with a timestamp tie broken by node name.
	std::vector<Write> writes = {
	    {V(10, "a"), false, 1}, {V(12, "b"), true, 0}, {V(12, "c"), false, 3},
	    {V(11, "c"), false, 4}, {V(9, "b"), true, 0},
	};
	// The newest write is (12, "c"), a put of 3.
	std::vector<int> order(writes.size());
	for (size_t i = 0; i < order.size(); i++)
		order[i] = static_cast<int>(i);
	int permutations = 0;
	do {
		if (!KeepsPerNodeOrder(writes, order))
			continue;
		Replica r;
		for (int i : order)
			r.Apply(writes[i]);
		ASSERT_TRUE(r.state.row.exists) << "order #" << permutations;
		EXPECT_EQ(r.value, 3) << "order #" << permutations;
		EXPECT_TRUE(SameWrite(r.state.row, V(12, "c")));
		permutations++;
	} while (std::next_permutation(order.begin(), order.end()));
	EXPECT_EQ(permutations, 30); /* 5! orders, per-node order kept for b's and c's two writes: 120 / 4 */
}

TEST(Convergence, ADeleteNewerThanEveryPutWinsInEveryOrder) {
	std::vector<Write> writes = {
	    {V(10, "a"), false, 1}, {V(30, "b"), true, 0}, {V(20, "c"), false, 3}, {V(25, "a"), false, 5}};
	std::vector<int> order = {0, 1, 2, 3};
	do {
		if (!KeepsPerNodeOrder(writes, order))
			continue;
		Replica r;
		for (int i : order)
			r.Apply(writes[i]);
		EXPECT_FALSE(r.state.row.exists);
		EXPECT_TRUE(SameWrite(r.state.tombstone, V(30, "b")));
	} while (std::next_permutation(order.begin(), order.end()));
}

}  // namespace
}  // namespace concord::conflict
