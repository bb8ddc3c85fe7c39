/*
 * flush_tracker_test.cpp — which remote positions may be reported as flushed
 * (common/apply/flush_tracker.hpp).
 *
 * The properties that matter to a peer: a remote position is never released
 * before its local commit is flushed, released positions never go backwards,
 * the ring's overflow merging only delays releases, and idle advances never
 * overtake a pending commit.  Scenarios are tables of steps; a seeded random
 * run compares the tracker with an unbounded reference model.
 */
#include "common/apply/flush_tracker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace concord::apply {
namespace {

constexpr size_t kCapacity = FlushTracker::kCapacity;

enum class Op { kCommitted, kDurable, kAdvanceIdle };

/*
 * kCommitted:   Committed(a = local_end, b = remote_end)
 * kDurable:     Durable(a = local_flushed) must return b
 * kAdvanceIdle: AdvanceIdle(a)
 * After every step, pending() must equal `pending`.
 */
struct Step {
	Op op;
	uint64_t a;
	uint64_t b;
	size_t pending;
};

Step C(uint64_t local_end, uint64_t remote_end, size_t pending) {
	return {Op::kCommitted, local_end, remote_end, pending};
}
Step D(uint64_t local_flushed, uint64_t expect, size_t pending) {
	return {Op::kDurable, local_flushed, expect, pending};
}
Step A(uint64_t remote_pos, size_t pending) { return {Op::kAdvanceIdle, remote_pos, 0, pending}; }

struct Scenario {
	std::string name;
	std::vector<Step> steps;
};

class FlushTrackerScenario : public ::testing::TestWithParam<Scenario> {};

TEST_P(FlushTrackerScenario, Runs) {
	auto tracker = std::make_unique<FlushTracker>();
	const std::vector<Step> &steps = GetParam().steps;
	for (size_t i = 0; i < steps.size(); i++) {
		const Step &s = steps[i];
		switch (s.op) {
		case Op::kCommitted:
			tracker->Committed(s.a, s.b);
			break;
		case Op::kDurable:
			EXPECT_EQ(tracker->Durable(s.a), s.b) << "step " << i << ": Durable(" << s.a << ")";
			break;
		case Op::kAdvanceIdle:
			tracker->AdvanceIdle(s.a);
			break;
		}
		EXPECT_EQ(tracker->pending(), s.pending) << "step " << i;
		EXPECT_EQ(tracker->AllDurable(), s.pending == 0) << "step " << i;
	}
}

INSTANTIATE_TEST_SUITE_P(
    Steps, FlushTrackerScenario,
    ::testing::Values(
        Scenario{"NothingCommitted", {D(0, 0, 0), D(1000, 0, 0)}},
        Scenario{"ReleasesOnlyAfterLocalFlush",
                 {C(100, 1000, 1), D(0, 0, 1), D(99, 0, 1), D(100, 1000, 0), D(5000, 1000, 0)}},
        Scenario{"ReleasesInCommitOrder",
                 {C(100, 1000, 1), C(200, 2000, 2), C(300, 3000, 3), D(150, 1000, 2), D(250, 2000, 1), D(299, 2000, 1),
                  D(300, 3000, 0)}},
        Scenario{"OneFlushReleasesEverything",
                 {C(100, 1000, 1), C(200, 2000, 2), C(300, 3000, 3), D(1000000, 3000, 0)}},
        Scenario{"FlushExactlyAtCommitEnd", {C(100, 100, 1), D(100, 100, 0)}},
        Scenario{"NeverGoesBackwards",
                 {C(100, 1000, 1), D(100, 1000, 0), D(0, 1000, 0), C(200, 500, 1), D(200, 1000, 0), D(50, 1000, 0)}},
        Scenario{"AnUnflushedHeadHoldsBackLaterCommits",
                 {C(300, 1000, 1), C(200, 2000, 2), D(250, 0, 2), D(300, 2000, 0)}},
        Scenario{"IdleAdvanceWhenNothingPending",
                 {A(500, 0), D(0, 500, 0), A(400, 0), D(0, 500, 0), A(900, 0), D(0, 900, 0)}},
        Scenario{"IdleAdvanceIgnoredWhileCommitPending",
                 {C(100, 1000, 1), A(5000, 1), D(99, 0, 1), D(100, 1000, 0), A(5000, 0), D(100, 5000, 0)}},
        Scenario{"IdleAdvanceIgnoredUntilDurableSettlesTheCommit",
                 {C(100, 1000, 1), D(50, 0, 1), A(5000, 1), D(100, 1000, 0), D(100, 1000, 0)}},
        Scenario{"CommitAfterIdleAdvance", {A(5000, 0), C(100, 6000, 1), D(50, 5000, 1), D(100, 6000, 0)}},
        Scenario{"CommitBelowIdlePositionKeepsItMonotonic",
                 {A(5000, 0), C(100, 4000, 1), D(100, 5000, 0), A(4500, 0), D(100, 5000, 0)}}),
    [](const ::testing::TestParamInfo<Scenario> &info) { return info.param.name; });

TEST(FlushTracker, FreshTrackerHasNothing) {
	auto tracker = std::make_unique<FlushTracker>();
	EXPECT_TRUE(tracker->AllDurable());
	EXPECT_EQ(tracker->pending(), 0u);
	EXPECT_EQ(tracker->Durable(UINT64_MAX), 0u);
}

TEST(FlushTracker, RingOverflowMergesIntoTheNewestEntryAndOnlyDelays) {
	auto tracker = std::make_unique<FlushTracker>();
	/* Commit i: local 10 * (i + 1), remote 100 * (i + 1). */
	for (uint64_t i = 0; i < kCapacity + 10; i++)
		tracker->Committed(10 * (i + 1), 100 * (i + 1));
	EXPECT_EQ(tracker->pending(), kCapacity);

	/* Everything before the newest ring entry releases normally. */
	EXPECT_EQ(tracker->Durable(10 * (kCapacity - 1)), 100 * (kCapacity - 1));
	EXPECT_EQ(tracker->pending(), 1u);

	/* The newest entry absorbed ten later commits: its own local flush is not enough. */
	EXPECT_EQ(tracker->Durable(10 * kCapacity), 100 * (kCapacity - 1));
	EXPECT_EQ(tracker->Durable(10 * (kCapacity + 9)), 100 * (kCapacity - 1));
	EXPECT_EQ(tracker->pending(), 1u);

	EXPECT_EQ(tracker->Durable(10 * (kCapacity + 10)), 100 * (kCapacity + 10));
	EXPECT_TRUE(tracker->AllDurable());
}

TEST(FlushTracker, RingOverflowKeepsTheHighestPositions) {
	auto tracker = std::make_unique<FlushTracker>();
	for (uint64_t i = 0; i < kCapacity; i++)
		tracker->Committed(i + 1, i + 1);
	/* Overflow with an entry lower than the newest (out of order): the merge keeps the maxima. */
	tracker->Committed(kCapacity + 100, kCapacity + 100);
	tracker->Committed(kCapacity + 50, kCapacity + 50);
	EXPECT_EQ(tracker->Durable(kCapacity + 99), kCapacity - 1);
	EXPECT_EQ(tracker->Durable(kCapacity + 100), kCapacity + 100);
	EXPECT_TRUE(tracker->AllDurable());
}

TEST(FlushTracker, WrapsAroundTheRingManyTimes) {
	auto tracker = std::make_unique<FlushTracker>();
	uint64_t next = 1;
	/* Keep about half the ring pending while the head travels around it ten times. */
	for (uint64_t round = 0; round < 10 * kCapacity; round++) {
		tracker->Committed(next, next * 7);
		next++;
		if (tracker->pending() > kCapacity / 2) {
			uint64_t settle = next - kCapacity / 4;
			EXPECT_EQ(tracker->Durable(settle), settle * 7);
			ASSERT_EQ(tracker->pending(), next - 1 - settle);
		}
	}
	EXPECT_EQ(tracker->Durable(next), (next - 1) * 7);
	EXPECT_TRUE(tracker->AllDurable());
}

/*
 * Random runs against an unbounded model.  Local and remote commit ends both
 * increase, as they do in the apply worker; idle advances report the newest
 * received position.  The tracker may lag the model only after ring overflow.
 */
TEST(FlushTracker, MatchesUnboundedModel) {
	std::mt19937_64 rng(7);
	for (int run = 0; run < 40 && !HasFailure(); run++) {
		auto tracker = std::make_unique<FlushTracker>();
		std::deque<std::pair<uint64_t, uint64_t>> model_pending; /* (local_end, remote_end) */
		std::vector<std::pair<uint64_t, uint64_t>> all_commits;
		size_t first_unflushed = 0; /* index into all_commits */
		uint64_t model_durable = 0;
		uint64_t local = 0, remote = 0, max_flushed = 0, last_reported = 0;
		bool overflowed = false;
		/* Every fourth run now and then commits more than the ring holds in one burst. */
		bool bursty = run % 4 == 0;
		for (int step = 0; step < 5000 && !HasFailure(); step++) {
			uint64_t choice = rng() % 100;
			if (choice < 60) {
				uint64_t n = bursty && rng() % 100 == 0 ? kCapacity + rng() % 1000 : 1 + rng() % 8;
				for (uint64_t k = 0; k < n; k++) {
					local += 1 + rng() % 50;
					remote += 1 + rng() % 500;
					if (tracker->pending() == kCapacity)
						overflowed = true;
					tracker->Committed(local, remote);
					model_pending.emplace_back(local, remote);
					all_commits.emplace_back(local, remote);
				}
			} else if (choice < 95) {
				/* Flush positions mostly move forward, sometimes report a stale (lower) value. */
				uint64_t flushed;
				if (rng() % 8 == 0)
					flushed = max_flushed / 2;
				else if (rng() % 20 == 0)
					flushed = local;
				else
					flushed = max_flushed + rng() % 600;
				max_flushed = std::max(max_flushed, flushed);
				while (!model_pending.empty() && model_pending.front().first <= flushed) {
					model_durable = std::max(model_durable, model_pending.front().second);
					model_pending.pop_front();
				}
				while (first_unflushed < all_commits.size() && all_commits[first_unflushed].first <= max_flushed)
					first_unflushed++;

				uint64_t reported = tracker->Durable(flushed);
				ASSERT_GE(reported, last_reported) << "went backwards at step " << step;
				last_reported = reported;
				/* Safety: below the remote end of the oldest commit not yet flushed locally. */
				if (first_unflushed < all_commits.size()) {
					ASSERT_LT(reported, all_commits[first_unflushed].second) << "released unflushed, step " << step;
				}
				ASSERT_LE(reported, model_durable) << "ahead of the model at step " << step;
				/* After an overflow the tracker may lag (and skip idle advances it saw as pending). */
				if (!overflowed) {
					ASSERT_EQ(reported, model_durable) << "step " << step;
				}
			} else {
				remote += rng() % 100;
				tracker->AdvanceIdle(remote);
				if (model_pending.empty())
					model_durable = std::max(model_durable, remote);
			}
			if (!overflowed) {
				ASSERT_EQ(tracker->pending(), model_pending.size()) << "step " << step;
			}
		}
		/* Flushing everything releases everything, overflow or not. */
		while (!model_pending.empty()) {
			model_durable = std::max(model_durable, model_pending.front().second);
			model_pending.pop_front();
		}
		uint64_t final_reported = tracker->Durable(UINT64_MAX);
		EXPECT_TRUE(tracker->AllDurable());
		EXPECT_LE(final_reported, model_durable) << "run " << run;
		if (!all_commits.empty()) {
			EXPECT_GE(final_reported, all_commits.back().second) << "run " << run;
		}
		if (!overflowed) {
			EXPECT_EQ(final_reported, model_durable) << "run " << run;
		}
		if (bursty) {
			EXPECT_TRUE(overflowed) << "run " << run << " was meant to overflow the ring";
		}
	}
}

} // namespace
} // namespace concord::apply
