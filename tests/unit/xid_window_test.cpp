/*
 * xid_window_test.cpp — the apply worker's window of transactions it
 * committed itself (common/apply/xid_window.hpp).
 *
 * What matters to the guard: a "yes" only for an xid that was recorded and is
 * still inside the window; never a "yes" for a reused bit (an xid kBits or
 * 2^32 later than a recorded one), for special xids or for xids newer than
 * the window; exact placement of 32-bit xids across an epoch boundary.  A
 * seeded random run compares the window with a model that keeps every
 * recorded full xid.
 */
#include "common/apply/xid_window.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <random>
#include <set>
#include <string>

namespace concord::apply {
namespace {

constexpr uint64_t kBits = XidWindowState::kBits;
constexpr uint64_t kEpoch = uint64_t{1} << 32;

uint32_t Low32(uint64_t full) { return static_cast<uint32_t>(full); }

/* Which of `xids` the window knows, as "1"/"0" per xid, so one line states a whole neighbourhood. */
std::string Known(const XidWindow &window, std::initializer_list<uint32_t> xids) {
	std::string known;
	for (uint32_t xid : xids)
		known += window.Contains(xid) ? '1' : '0';
	return known;
}

class XidWindowTest : public ::testing::Test {
protected:
	std::unique_ptr<XidWindowState> state_ = std::make_unique<XidWindowState>();
	XidWindow window_{state_.get()};
};

TEST_F(XidWindowTest, EmptyWindowKnowsNothing) {
	window_.Reset(1000);
	EXPECT_EQ(Known(window_, {0, 1, 2, 3, 999, 1000, 1001}), "0000000");
}

TEST_F(XidWindowTest, RecordedXidIsKnownItsNeighboursAreNot) {
	window_.Reset(1000);
	window_.Record(1005);
	EXPECT_EQ(Known(window_, {1000, 1004, 1005, 1006}), "0010");
}

TEST_F(XidWindowTest, SpecialXidsAreNeverKnown) {
	window_.Reset(0);
	for (uint64_t x = 0; x < 10; x++)
		window_.Record(x);
	EXPECT_EQ(Known(window_, {0, 1, 2, 3}), "0001");
}

TEST_F(XidWindowTest, XidsBeforeTheResetAreNotKnown) {
	window_.Reset(5000);
	window_.Record(4990); /* older than the window's start: not answered for */
	window_.Advance(6000);
	EXPECT_FALSE(window_.Contains(4990));
}

TEST_F(XidWindowTest, AdvancingPastTheWindowForgetsOldRecordings) {
	window_.Reset(100);
	window_.Record(200);
	window_.Advance(200 + kBits - 1);
	EXPECT_TRUE(window_.Contains(200)) << "still the oldest xid of the window";
	window_.Advance(200 + kBits);
	EXPECT_FALSE(window_.Contains(200));
	EXPECT_FALSE(window_.Contains(Low32(200 + kBits))) << "same bit, a later xid that was never recorded";
}

TEST_F(XidWindowTest, ReusedBitIsClearedWhenTheWindowMovesOntoIt) {
	window_.Reset(100);
	window_.Record(300);
	window_.Advance(300 + kBits / 2);
	window_.Advance(300 + kBits); /* covers the xid that shares 300's bit */
	EXPECT_FALSE(window_.Contains(Low32(300 + kBits)));
	window_.Record(300 + kBits + 1);
	EXPECT_TRUE(window_.Contains(Low32(300 + kBits + 1)));
	EXPECT_FALSE(window_.Contains(Low32(300 + kBits)));
}

TEST_F(XidWindowTest, AWholeEpochLaterTheSame32BitXidIsNotKnown) {
	window_.Reset(100);
	window_.Record(500);
	window_.Advance(500 + kEpoch); /* the worker was away while 2^32 xids were used */
	EXPECT_FALSE(window_.Contains(500));
}

TEST_F(XidWindowTest, XidsArePlacedAcrossAnEpochBoundary) {
	window_.Reset(kEpoch - 20);
	window_.Record(kEpoch - 2);     /* xid 0xFFFFFFFE of epoch 0 */
	window_.Record(kEpoch + 3);     /* xid 3 of epoch 1 */
	EXPECT_EQ(Known(window_, {0xFFFFFFFDu, 0xFFFFFFFEu, 3}), "011");
	EXPECT_FALSE(window_.Contains(4)) << "newer than anything recorded";
}

TEST_F(XidWindowTest, ChildXidsWidenRelativeToTheirTopLevelTransaction) {
	EXPECT_EQ(XidWindow::WidenChild(5 * kEpoch + 100, 105), 5 * kEpoch + 105);
	EXPECT_EQ(XidWindow::WidenChild(5 * kEpoch + 100, 99), 5 * kEpoch + 99);
	EXPECT_EQ(XidWindow::WidenChild(kEpoch - 1, 3), kEpoch + 3) << "child assigned after the wrap";
}

TEST_F(XidWindowTest, ClearingAPartialRangeKeepsBitsOutsideIt) {
	window_.Reset(64 * 10);
	for (uint64_t x = 64 * 10; x < 64 * 13; x += 7)
		window_.Record(x);
	window_.Advance(64 * 13 + 70); /* clears only xids after the last recording */
	for (uint64_t x = 64 * 10; x < 64 * 13; x++)
		EXPECT_EQ(window_.Contains(Low32(x)), (x - 64 * 10) % 7 == 0) << x;
}

/* The window against a model that remembers every recording forever. */
TEST_F(XidWindowTest, RandomRecordingsMatchTheModel) {
	std::mt19937_64 rng(20261122);
	uint64_t start = kEpoch - kBits / 3; /* the run crosses an epoch boundary */
	window_.Reset(start);
	std::set<uint64_t> recorded;
	uint64_t high = start - 1;
	for (int step = 0; step < 200000; step++) {
		uint64_t gap = rng() % 100 == 0 ? rng() % (kBits / 4) : rng() % 8;
		high += gap;
		if (rng() % 3 == 0) {
			window_.Record(high);
			recorded.insert(high);
		} else {
			window_.Advance(high);
		}
		if (step % 50 != 0)
			continue;
		uint64_t low = high >= start + kBits - 1 ? high - kBits + 1 : start;
		for (int q = 0; q < 20; q++) {
			uint64_t back = rng() % (kBits + 1000);
			if (back > high)
				continue;
			uint64_t full = high - back;
			bool want = full >= low && recorded.count(full) > 0 && Low32(full) >= kFirstNormalXid;
			ASSERT_EQ(window_.Contains(Low32(full)), want) << "step " << step << " xid " << full;
		}
	}
}

} // namespace
} // namespace concord::apply
